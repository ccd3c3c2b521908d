package kernel

import "errors"

// Pump reads t until Close has been called and the ring is drained, adding
// each event to x and writing it to w (either may be nil): the session goes
// first to both and once more at the end, with Stop and Lost. It is the
// live loop of -i with --kernel-reasons and --kernel-events; run it on its
// own goroutine. It returns the first read or write error, nil after Close.
func Pump(t *Tracer, w *Writer, x *Index) error {
	put := func() error {
		s := t.Session()
		if x != nil {
			x.SetSession(s)
		}
		if w != nil {
			if err := w.WriteSession(s); err != nil {
				return err
			}
			return w.Flush()
		}
		return nil
	}
	if err := put(); err != nil {
		return err
	}
	for {
		e, err := t.Read()
		if errors.Is(err, ErrClosed) {
			return put()
		}
		if err != nil {
			return err
		}
		if x != nil {
			x.Add(e)
		}
		if w != nil {
			if err := w.Write(e); err != nil {
				return err
			}
		}
	}
}
