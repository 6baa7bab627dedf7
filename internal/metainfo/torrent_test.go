package metainfo

import (
	"strings"
	"testing"
)

// TestParseInfoPadFiles: BEP 47 pad files (attr containing "p") are not
// counted as content; other attributes (x, h, l) are.
func TestParseInfoPadFiles(t *testing.T) {
	pieces := strings.Repeat("\x00", 20*2)
	info := "d5:filesl" +
		"d6:lengthi100e4:pathl1:aee" +
		"d4:attr1:p6:lengthi16284e4:pathl4:.pad5:16284ee" +
		"d4:attr1:x6:lengthi50e4:pathl1:bee" +
		"d4:attr2:hp6:lengthi16334e4:pathl4:.pad5:16334ee" +
		"e4:name1:x12:piece lengthi16384e6:pieces40:" + pieces + "e"
	tor, err := ParseInfo([]byte(info))
	if err != nil {
		t.Fatal(err)
	}
	if tor.Files != 2 || tor.TotalLength != 150 {
		t.Errorf("files %d, total length %d; want 2 files, 150 bytes (pad files left out)", tor.Files, tor.TotalLength)
	}
}
