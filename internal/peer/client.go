package peer

import (
	"strconv"
	"strings"
)

// Azureus-style client codes: "-XXvvvv-".
var azureus = map[string]string{
	"7T": "aTorrent", "AB": "AnyEvent::BitTorrent", "AG": "Ares", "AR": "Arctic",
	"AT": "Artemis", "AV": "Avicora", "AX": "BitPump", "AZ": "Vuze", "BB": "BitBuddy",
	"BC": "BitComet", "BE": "Baretorrent", "BF": "Bitflu", "BG": "BTG", "BI": "BiglyBT",
	"BL": "BitCometLite", "BP": "BitTorrent Pro", "BR": "BitRocket", "BS": "BTSlave",
	"BT": "BitTorrent", "BW": "BitWombat", "BX": "btext", "CD": "Enhanced CTorrent",
	"CT": "CTorrent", "DE": "Deluge", "DP": "Propagate Data Client", "EB": "EBit",
	"ES": "Electric Sheep", "FC": "FileCroc", "FD": "Free Download Manager",
	"FT": "FoxTorrent", "FW": "FrostWire", "FX": "Freebox BitTorrent", "GS": "GSTorrent",
	"HK": "Hekate", "HL": "Halite", "HM": "hMule", "HN": "Hydranode", "IL": "iLivid",
	"JS": "Justseed.it", "JT": "JavaTorrent", "KG": "KGet", "KT": "KTorrent",
	"LC": "LeechCraft", "LH": "LH-ABC", "LP": "Lphant", "LT": "libtorrent",
	"lt": "libTorrent (rakshasa)", "LW": "LimeWire", "MK": "Meerkat", "MO": "MonoTorrent",
	"MP": "MooPolice", "MR": "Miro", "MT": "MoonlightTorrent", "NB": "Net::BitTorrent",
	"NX": "Net Transport", "OS": "OneSwarm", "OT": "OmegaTorrent", "PB": "Protocol::BitTorrent",
	"PD": "Pando", "PI": "PicoTorrent", "qB": "qBittorrent", "QD": "QQDownload",
	"QT": "Qt 4 Torrent example", "RT": "Retriever", "RZ": "RezTorrent", "S~": "Shareaza alpha/beta",
	"SB": "~Swiftbit", "SD": "Thunder", "SM": "SoMud", "SP": "BitSpirit", "SS": "SwarmScope",
	"ST": "SymTorrent", "st": "sharktorrent", "SZ": "Shareaza", "TB": "Torch", "TE": "terasaur Seed Bank",
	"TL": "Tribler", "TN": "TorrentDotNET", "TR": "Transmission", "TS": "Torrentstorm",
	"TT": "TuoTu", "UL": "uLeecher!", "UM": "µTorrent for Mac", "UT": "µTorrent",
	"UW": "µTorrent Web", "VG": "Vagaa", "WD": "WebTorrent Desktop", "WT": "BitLet",
	"WW": "WebTorrent", "WY": "FireTorrent", "XF": "Xfplay", "XL": "Xunlei", "XS": "XSwifter",
	"XT": "XanTorrent", "XX": "Xtorrent", "ZT": "ZipTorrent", "A2": "aria2", "AN": "Ares",
}

// Shadow-style: one letter, version characters, then dashes.
var shadow = map[byte]string{
	'A': "ABC", 'O': "Osprey Permaseed", 'Q': "BTQueue", 'R': "Tribler",
	'S': "Shadow", 'T': "BitTornado", 'U': "UPnP NAT Bit Torrent",
}

// ClientName names the client a peer id announces, with its version, or
// returns "" when the id follows no known convention.
func ClientName(id PeerID) string {
	s := string(id[:])
	switch {
	case s[0] == '-' && s[7] == '-' && isAlnum(s[1]) && isAlnum(s[2]):
		name, ok := azureus[s[1:3]]
		if !ok {
			name = "unknown client " + Escape(s[1:3])
		}
		return name + " " + azureusVersion(s[1:3], s[3:7])
	case strings.HasPrefix(s, "A2-"): // aria2: "A2-1-36-0-"
		return "aria2 " + dashedVersion(s[3:])
	case s[0] == 'M' && s[1] >= '0' && s[1] <= '9' && (s[2] == '-' || s[3] == '-'):
		return "BitTorrent Mainline " + dashedVersion(s[1:])
	case strings.HasPrefix(s, "exbc"):
		return "BitComet"
	case strings.HasPrefix(s, "XBT"):
		return "XBT Client"
	case strings.HasPrefix(s, "-BOW"):
		return "BitsOnWheels"
	case strings.HasPrefix(s, "OP"):
		return "Opera"
	}
	if name, ok := shadow[s[0]]; ok {
		if v := shadowVersion(s[1:6]); v != "" {
			return name + " " + v
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '~'
}

// digit reads one version character: 0-9, then A-Z for 10-35 (libtorrent,
// rtorrent "-lt0D80-" is 0.13.8), a-z likewise.
func digit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10, true
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10, true
	}
	return 0, false
}

func azureusVersion(code, v string) string {
	if code == "TR" { // Transmission: "3000" is 3.00, "4040" is 4.0.4; a trailing Z or X marks a dev build
		dev := ""
		if v[3] == 'Z' || v[3] == 'X' {
			dev, v = "+", v[:3]+"0"
		}
		if v[0] < '4' {
			return v[0:1] + "." + v[1:3] + dev
		}
		return v[0:1] + "." + v[1:2] + "." + v[2:3] + dev
	}
	parts := make([]string, 0, 4)
	for i := range len(v) {
		d, ok := digit(v[i])
		if !ok {
			return Escape(v)
		}
		parts = append(parts, strconv.Itoa(d))
	}
	return strings.Join(parts, ".")
}

func dashedVersion(s string) string {
	var parts []string
	for p := range strings.SplitSeq(s, "-") {
		if p == "" || !isDigits(p) {
			break
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

func shadowVersion(s string) string {
	var parts []string
	for i := range len(s) {
		if s[i] == '-' {
			break
		}
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			parts = append(parts, strconv.Itoa(int(c-'0')))
		case c >= 'A' && c <= 'Z':
			parts = append(parts, strconv.Itoa(int(c-'A')+10))
		case c >= 'a' && c <= 'z':
			parts = append(parts, strconv.Itoa(int(c-'a')+36))
		case c == '.':
			parts = append(parts, "62")
		default:
			return ""
		}
	}
	if len(parts) == 0 || !strings.Contains(s, "-") {
		return ""
	}
	return strings.Join(parts, ".")
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
