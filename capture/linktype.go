package capture

import "strconv"

// Link types (pcap LINKTYPE_ values) the package names in code.
const (
	linkNull      = 0
	linkEthernet  = 1
	linkPPP       = 9
	linkRawBSD12  = 12 // DLT_RAW on most BSDs
	linkRawBSD14  = 14 // DLT_RAW on OpenBSD
	linkPPPHDLC   = 50
	linkATM1483   = 100
	linkRaw       = 101
	linkCHDLC     = 104
	linkIEEE80211 = 105
	linkLoop      = 108
	linkSLL       = 113
	linkPFLOG     = 117
	linkRadiotap  = 127
	linkIPv4      = 228
	linkIPv6      = 229
	linkNFLOG     = 239
	linkMPacket   = 274 // 802.3br mPackets: preamble and SMD before Ethernet
	linkSLL2      = 276
)

// linkType is one row of the link-type table: everything the package knows
// about a pcap LINKTYPE_ value.
type linkType struct {
	num  int    // LINKTYPE_ value, as in pcap and pcapng files
	name string // libpcap's name (pcap_datalink_val_to_name)
	// dlt is the DLT_ value libpcap's pcap_open_dead takes (BPF filters on
	// files), where it differs from num on Linux; 0 means num.
	dlt int
	// decode decodes a frame of this link type; nil for the link types
	// Decode cannot read (named only, for messages).
	decode func(d *Decoder, b []byte, p *Packet) error
}

// linkTypes is the one table of link types: Decode dispatches on it, file
// and live sources name link types from it, and BPF compilation maps them
// to DLT values with it. To read a new link type, add its row here with a
// decode function (and a test frame in decodeCases).
var linkTypes = [...]linkType{
	{num: linkNull, name: "NULL", decode: (*Decoder).null},
	{num: linkEthernet, name: "EN10MB", decode: (*Decoder).ethernet},
	{num: 3, name: "AX25"},
	{num: 6, name: "IEEE802"},
	{num: 8, name: "SLIP"},
	{num: linkPPP, name: "PPP", decode: (*Decoder).ppp},
	{num: 10, name: "FDDI"},
	{num: linkRawBSD12, name: "RAW", decode: (*Decoder).ip},
	{num: linkRawBSD14, name: "RAW", decode: (*Decoder).ip},
	{num: linkPPPHDLC, name: "PPP_HDLC", decode: (*Decoder).ppp},
	{num: 51, name: "PPP_ETHER"},
	{num: linkATM1483, name: "ATM_RFC1483", dlt: 11},
	{num: linkRaw, name: "RAW", dlt: 12, decode: (*Decoder).ip},
	{num: linkCHDLC, name: "C_HDLC", decode: (*Decoder).chdlc},
	{num: linkIEEE80211, name: "IEEE802_11", decode: (*Decoder).wlan},
	{num: 107, name: "FRELAY"},
	{num: linkLoop, name: "LOOP", decode: (*Decoder).null},
	{num: linkSLL, name: "LINUX_SLL", decode: (*Decoder).sll},
	{num: linkPFLOG, name: "PFLOG", decode: (*Decoder).pflog},
	{num: 119, name: "PRISM_HEADER"},
	{num: linkRadiotap, name: "IEEE802_11_RADIO", decode: (*Decoder).radiotap},
	{num: 138, name: "APPLE_IP_OVER_IEEE1394"},
	{num: 139, name: "MTP2_WITH_PHDR"},
	{num: 143, name: "DOCSIS"},
	{num: 163, name: "IEEE802_11_RADIO_AVS"},
	{num: 165, name: "BACNET_MS_TP"},
	{num: 166, name: "PPP_PPPD"},
	{num: 169, name: "GPRS_LLC"},
	{num: 187, name: "BLUETOOTH_HCI_H4"},
	{num: 189, name: "USB_LINUX"},
	{num: 192, name: "PPI"},
	{num: 195, name: "IEEE802_15_4_WITHFCS"},
	{num: 201, name: "BLUETOOTH_HCI_H4_WITH_PHDR"},
	{num: 220, name: "USB_LINUX_MMAPPED"},
	{num: 224, name: "FC_2"},
	{num: 227, name: "CAN_SOCKETCAN"},
	{num: linkIPv4, name: "IPV4", decode: (*Decoder).ipv4},
	{num: linkIPv6, name: "IPV6", decode: (*Decoder).ipv6},
	{num: 230, name: "IEEE802_15_4_NOFCS"},
	{num: 235, name: "DVB_CI"},
	{num: linkNFLOG, name: "NFLOG", decode: (*Decoder).nflog},
	{num: 240, name: "NETANALYZER"},
	{num: 248, name: "SCTP"},
	{num: 249, name: "USBPCAP"},
	{num: 251, name: "BLUETOOTH_LE_LL"},
	{num: 252, name: "WIRESHARK_UPPER_PDU"},
	{num: 253, name: "NETLINK"},
	{num: 254, name: "BLUETOOTH_LINUX_MONITOR"},
	{num: 256, name: "BLUETOOTH_LE_LL_WITH_PHDR"},
	{num: linkMPacket, name: "ETHERNET_MPACKET", decode: (*Decoder).mpacket},
	{num: linkSLL2, name: "LINUX_SLL2", decode: (*Decoder).sll2},
}

// maxLinkType bounds the dispatch array: the largest LINKTYPE_ in the table.
const maxLinkType = 300

// linkDecoders indexes the table's decode functions by link type, so that
// Decode's dispatch is one bounds check and one indirect call.
var linkDecoders = func() (a [maxLinkType + 1]func(*Decoder, []byte, *Packet) error) {
	for _, l := range linkTypes {
		a[l.num] = l.decode
	}
	return a
}()

// lookupLinkType returns the table's row for lt.
func lookupLinkType(lt int) (linkType, bool) {
	for _, l := range linkTypes {
		if l.num == lt {
			return l, true
		}
	}
	return linkType{}, false
}

// linkTypeName gives libpcap's name (pcap_datalink_val_to_name) of lt, or
// "unknown".
func linkTypeName(lt int) string {
	if lt >= 147 && lt <= 162 {
		return "USER" + strconv.Itoa(lt-147)
	}
	if l, ok := lookupLinkType(lt); ok {
		return l.name
	}
	return "unknown"
}

// dltOf maps a pcap LINKTYPE_ value to the DLT_ value pcap_open_dead
// takes, where the two differ on Linux.
func dltOf(lt int) int {
	if l, ok := lookupLinkType(lt); ok && l.dlt != 0 {
		return l.dlt
	}
	return lt
}
