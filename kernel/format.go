package kernel

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Field is one field of a trace event record, as its format file gives it.
type Field struct {
	Name   string // without an array suffix: "saddr" for "__u8 saddr[28]"
	Type   string // the C declaration before the name: "__u8", "const void *"
	Offset int
	Size   int
	Signed bool
}

// Format is a trace event's format file (tracefs events/<group>/<event>/format):
// its id, its fields and the symbolic names its print format gives to
// numeric fields such as reason. The layout of the record and the numbers of
// enums change between kernels; they are only ever read from here.
type Format struct {
	Name   string
	ID     uint32
	Fields []Field
	// Symbols maps a field name to its __print_symbolic table, number to
	// name ("reason" -> 1 -> "NO_SOCKET"). A table whose keys are C names
	// rather than numbers (the TCP states) is left out.
	Symbols map[string]map[uint64]string
}

// Field returns the field named name.
func (f *Format) Field(name string) (Field, bool) {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl, true
		}
	}
	return Field{}, false
}

// Size is the length of the record up to the end of its last field.
func (f *Format) Size() int {
	n := 0
	for _, fl := range f.Fields {
		if e := fl.Offset + fl.Size; e > n {
			n = e
		}
	}
	return n
}

// Number returns the number the symbol table of field gives to name.
func (f *Format) Number(field, name string) (uint64, bool) {
	for n, s := range f.Symbols[field] {
		if s == name {
			return n, true
		}
	}
	return 0, false
}

// ParseFormat reads a format file; name is used in messages.
func ParseFormat(r io.Reader, name string) (*Format, error) {
	f := &Format{Symbols: map[string]map[uint64]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(s, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(s, "name:"))
		case strings.HasPrefix(s, "ID:"):
			id, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(s, "ID:")), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("kernel: %s: line %d: bad ID: %w", name, line, err)
			}
			f.ID = uint32(id)
		case strings.HasPrefix(s, "field:"):
			fl, err := parseField(s)
			if err != nil {
				return nil, fmt.Errorf("kernel: %s: line %d: %w", name, line, err)
			}
			f.Fields = append(f.Fields, fl)
		case strings.HasPrefix(s, "print fmt:"):
			parseSymbols(s, f.Symbols)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kernel: %s: %w", name, err)
	}
	if len(f.Fields) == 0 {
		return nil, fmt.Errorf("kernel: %s: no fields", name)
	}
	return f, nil
}

// parseField reads "field:int state;\toffset:24;\tsize:4;\tsigned:1;".
func parseField(s string) (Field, error) {
	var fl Field
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, ":")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "field":
			decl := strings.TrimSpace(val)
			i := strings.LastIndexAny(decl, " *")
			if i < 0 {
				return fl, fmt.Errorf("bad field declaration %q", decl)
			}
			fl.Type = strings.TrimSpace(decl[:i+1])
			fl.Name = decl[i+1:]
			if j := strings.IndexByte(fl.Name, '['); j >= 0 {
				fl.Name = fl.Name[:j]
			}
		case "offset":
			fl.Offset, err = strconv.Atoi(val)
		case "size":
			fl.Size, err = strconv.Atoi(val)
		case "signed":
			fl.Signed = val == "1"
		}
		if err != nil {
			return fl, fmt.Errorf("field %q: bad %s %q", fl.Name, key, val)
		}
	}
	if fl.Name == "" || fl.Size <= 0 || fl.Offset < 0 {
		return fl, fmt.Errorf("bad field %q", s)
	}
	return fl, nil
}

// parseSymbols collects every __print_symbolic(REC->field, { N, "NAME" }, ...)
// whose keys are numbers.
func parseSymbols(s string, into map[string]map[uint64]string) {
	const tag = "__print_symbolic(REC->"
	for {
		i := strings.Index(s, tag)
		if i < 0 {
			return
		}
		s = s[i+len(tag):]
		j := strings.IndexByte(s, ',')
		if j < 0 {
			return
		}
		field := strings.TrimSpace(s[:j])
		s = s[j+1:]
		table := map[uint64]string{}
		// Entries follow until the call's closing parenthesis.
		for {
			s = strings.TrimLeft(s, " ,\t")
			if !strings.HasPrefix(s, "{") {
				break
			}
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return
			}
			key, val, ok := strings.Cut(s[1:end], ",")
			s = s[end+1:]
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(key), 0, 64)
			if err != nil {
				table = nil // C names, not numbers
				continue
			}
			if table != nil {
				table[n] = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
		if len(table) > 0 {
			into[field] = table
		}
	}
}
