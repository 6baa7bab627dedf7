package extensions

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Extension names btext speaks.
const (
	UTMetadata = "ut_metadata" // BEP 9
	LTMetadata = "LT_metadata" // libtorrent's legacy metadata extension
	LTDontHave = "lt_donthave" // BEP 54
)

// Extensions btext understands when watching a peer.
const (
	UTPex      = "ut_pex"
	UploadOnly = "upload_only"
)

// Our local extension ids: constants, as BEP 10 intends, so that incoming
// messages can be dispatched with a switch. They follow libtorrent's numbers.
const (
	LocalUTPex      uint8 = 1
	LocalUTMetadata uint8 = 2
	LocalUploadOnly uint8 = 3
	LocalDontHave   uint8 = 7
	LocalLTMetadata uint8 = 14
)

// LocalM is the "m" dictionary btext advertises.
func LocalM() map[string]int {
	return map[string]int{
		UTMetadata: int(LocalUTMetadata),
		LTMetadata: int(LocalLTMetadata),
		LTDontHave: int(LocalDontHave),
	}
}

// WatchM is LocalM plus ut_pex and upload_only: what btext advertises when
// it watches a peer, so that the peer sends those too.
func WatchM() map[string]int {
	m := LocalM()
	m[UTPex] = int(LocalUTPex)
	m[UploadOnly] = int(LocalUploadOnly)
	return m
}

// LocalName names one of our local ids, or returns "".
func LocalName(id uint8) string {
	switch id {
	case LocalUTPex:
		return UTPex
	case LocalUploadOnly:
		return UploadOnly
	case LocalUTMetadata:
		return UTMetadata
	case LocalLTMetadata:
		return LTMetadata
	case LocalDontHave:
		return LTDontHave
	}
	return ""
}

// Registry holds the ids a peer assigned to extensions: the ids we must use
// when we send that extension to it. The zero value is empty and ready.
type Registry struct {
	ids map[string]uint8
}

// Apply merges the "m" dictionary of one of the peer's extended handshakes:
// names present change, an id of 0 disables the name, and anything that is
// not an integer in 1..255 is skipped. It returns a note for each entry it
// skipped and for ids that two names now share.
func (r *Registry) Apply(m map[string]any) (notes []string) {
	if r.ids == nil {
		r.ids = make(map[string]uint8)
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v, ok := m[name].(int64)
		switch {
		case !ok:
			notes = append(notes, fmt.Sprintf("m[%q] is a %s, not an integer: skipped", name, typeName(m[name])))
		case v == 0:
			delete(r.ids, name)
		case v < 0 || v > 255:
			notes = append(notes, fmt.Sprintf("m[%q] = %d is outside 1..255: skipped", name, v))
		default:
			r.ids[name] = uint8(v)
		}
	}
	byID := make(map[uint8][]string)
	for name, id := range r.ids {
		byID[id] = append(byID[id], name)
	}
	dups := make([]string, 0)
	for id, names := range byID {
		if len(names) > 1 {
			sort.Strings(names)
			dups = append(dups, fmt.Sprintf("id %d is shared by %q, which BEP 10 forbids", id, names))
		}
	}
	sort.Strings(dups)
	return append(notes, dups...)
}

// ID returns the peer's id for an extension, if it has enabled it.
func (r *Registry) ID(name string) (uint8, bool) {
	id, ok := r.ids[name]
	return id, ok
}

// Names returns a copy of the peer's enabled extensions.
func (r *Registry) Names() map[string]uint8 { return maps.Clone(r.ids) }

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case []any:
		return "list"
	case map[string]any:
		return "dictionary"
	}
	return fmt.Sprintf("%T", v)
}
