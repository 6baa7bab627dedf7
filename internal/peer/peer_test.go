package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHandshakeBytes(t *testing.T) {
	var h Handshake
	h.Reserved = h.Reserved.WithExtended()
	copy(h.InfoHash[:], bytes.Repeat([]byte{0xaa}, 20))
	copy(h.PeerID[:], "-BX0100-abcdefghijkl")
	b, _ := h.AppendBinary(nil)
	want := "\x13BitTorrent protocol" + "\x00\x00\x00\x00\x00\x10\x00\x00" +
		strings.Repeat("\xaa", 20) + "-BX0100-abcdefghijkl"
	if string(b) != want {
		t.Fatalf("handshake bytes\n got %q\nwant %q", b, want)
	}
	var back Handshake
	if err := back.UnmarshalBinary(b); err != nil || back != h {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for n := range len(b) {
		if back.UnmarshalBinary(b[:n]) == nil {
			t.Fatalf("prefix of %d bytes parsed", n)
		}
	}
	bad := bytes.Clone(b)
	bad[5] = 'X'
	if err := back.UnmarshalBinary(bad); err == nil || !strings.Contains(err.Error(), "protocol string") {
		t.Errorf("wrong pstr: %v", err)
	}
}

func TestReservedBits(t *testing.T) {
	// libtorrent 2.0 sends ...100005: extension protocol, DHT and fast.
	r := Reserved{0, 0, 0, 0, 0, 0x10, 0, 0x05}
	if !r.Extended() || !r.DHT() || !r.Fast() || r.V2Upgrade() {
		t.Errorf("decoded %v %v %v %v", r.Extended(), r.DHT(), r.Fast(), r.V2Upgrade())
	}
	if !(Reserved{7: 0x10}).V2Upgrade() {
		t.Error("v2 bit")
	}
}

func TestMessageBytes(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Message{KeepAlive: true}, "\x00\x00\x00\x00"},
		{Message{ID: Unchoke}, "\x00\x00\x00\x01\x01"},
		{Message{ID: Have, Payload: []byte{0, 0, 0, 7}}, "\x00\x00\x00\x05\x04\x00\x00\x00\x07"},
		{ExtendedMessage(0, []byte("de")), "\x00\x00\x00\x04\x14\x00de"},
		{ExtendedMessage(7, []byte{0, 0, 0, 3}), "\x00\x00\x00\x06\x14\x07\x00\x00\x00\x03"},
	}
	for _, tt := range tests {
		b, err := tt.m.AppendBinary(nil)
		if err != nil || string(b) != tt.want {
			t.Errorf("%v: got %q want %q (%v)", tt.m, b, tt.want, err)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Message{
		{ID: Choke, Payload: []byte{1}},
		{ID: Have, Payload: []byte{1, 2, 3}},
		{ID: Request, Payload: make([]byte, 11)},
		{ID: Port, Payload: make([]byte, 3)},
		{ID: Extended},
		{ID: Piece, Payload: make([]byte, 7)},
	}
	for _, m := range bad {
		if m.Validate() == nil {
			t.Errorf("%v validated", m)
		}
	}
	good := []Message{{ID: Bitfield}, {ID: Bitfield, Payload: []byte{0xff}}, {ID: Extended, Payload: []byte{0}}, {ID: 99, Payload: []byte{1, 2}}, {ID: Port, Payload: []byte{0x1a, 0xe1}}}
	for _, m := range good {
		if err := m.Validate(); err != nil {
			t.Errorf("%v: %v", m, err)
		}
	}
}

func TestMachine(t *testing.T) {
	ext := Reserved{}.WithExtended()
	fast := Reserved{7: 0x04}
	tests := []struct {
		name          string
		local, remote Reserved
		recv          []Message
		sendExt       bool
		wantErr       string
		wantState     State
	}{
		{name: "plain", recv: []Message{{ID: Unchoke}, {ID: Have, Payload: []byte{0, 0, 0, 1}}}, wantState: StateOpen},
		{name: "extended both ways", local: ext, remote: ext, sendExt: true, recv: []Message{{ID: Extended, Payload: []byte("\x00de")}}, wantState: StateExtended},
		{name: "only peer's extended", local: ext, remote: ext, recv: []Message{{ID: Extended, Payload: []byte("\x00de")}}, wantState: StateOpen},
		{name: "extended without bit", local: ext, recv: []Message{{ID: Extended, Payload: []byte("\x00de")}}, wantErr: "without the extension bit negotiated"},
		{name: "extended length 1", local: ext, remote: ext, recv: []Message{{ID: Extended}}, wantErr: "without an extension id"},
		{name: "have_all without fast", recv: []Message{{ID: HaveAll}}, wantErr: "fast extension was not negotiated"},
		{name: "have_all with fast", local: fast, remote: fast, recv: []Message{{ID: HaveAll}}, wantState: StateOpen},
		{name: "unknown id tolerated", recv: []Message{{ID: 42, Payload: []byte("x")}}, wantState: StateOpen},
		{name: "bad have", recv: []Message{{ID: Have}}, wantErr: "have message with a 0-byte payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m machine
			if err := m.receive(Message{ID: Unchoke}); err == nil {
				t.Fatal("message accepted before handshake")
			}
			if err := m.sendHandshake(tt.local); err != nil {
				t.Fatal(err)
			}
			if m.state != StateHandshaking {
				t.Fatal("open after one handshake")
			}
			if err := m.receiveHandshake(tt.remote); err != nil {
				t.Fatal(err)
			}
			if tt.sendExt {
				if err := m.send(ExtendedMessage(0, []byte("de"))); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			for _, msg := range tt.recv {
				if err = m.receive(msg); err != nil {
					break
				}
			}
			if tt.wantErr != "" {
				var pe *ProtocolError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ProtocolError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || m.state != tt.wantState {
				t.Fatalf("err %v state %v, want %v", err, m.state, tt.wantState)
			}
			m.close()
			if m.receive(Message{ID: Unchoke}) == nil {
				t.Error("message accepted after close")
			}
		})
	}
	var m machine
	if m.send(Message{ID: Unchoke}) == nil {
		t.Error("send before handshake accepted")
	}
}

func TestClientName(t *testing.T) {
	tests := map[string]string{
		"-LT2080-abcdefghijkl": "libtorrent 2.0.8.0",
		"-TR3000-abcdefghijkl": "Transmission 3.00",
		"-TR4040-abcdefghijkl": "Transmission 4.0.4",
		"-lt0D80-abcdefghijkl": "libTorrent (rakshasa) 0.13.8.0",
		"A2-1-36-0-abcdefghij": "aria2 1.36.0",
		"-qB4630-abcdefghijkl": "qBittorrent 4.6.3.0",
		"M4-3-6--abcdefghijkl": "BitTorrent Mainline 4.3.6",
		"S58B-----abcdefghijk": "Shadow 5.8.11",
		"-ZZ1000-abcdefghijkl": "unknown client ZZ 1.0.0.0",
		"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13": "",
	}
	for in, want := range tests {
		var id PeerID
		copy(id[:], in)
		if got := ClientName(id); got != want {
			t.Errorf("ClientName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := map[string]string{
		"uTorrent 1.2": "uTorrent 1.2",
		"µTorrent":     "µTorrent",
		"a\xffb":       `a\xffb`,
		"\x00\n":       `\x00\x0a`,
		`back\slash`:   `back\\slash`,
	}
	for in, want := range tests {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:6881", "[::1]:6881", "localhost:1"} {
		if _, _, err := SplitAddr(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"127.0.0.1", "::1:6881", ":6881", "host:0", "host:65536", "host:x"} {
		if _, _, err := SplitAddr(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// pipePair returns a Conn and the raw other end over loopback TCP, so that
// deadlines are real.
func pipePair(t *testing.T, cfg Config) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	c, err := Dial(context.Background(), ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := <-done
	t.Cleanup(func() { c.Close(); other.Close() })
	return c, other
}

func hsBytes(r Reserved, hash Hash) []byte {
	b, _ := Handshake{Reserved: r, InfoHash: hash}.AppendBinary(nil)
	return b
}

func TestConnHandshakeErrors(t *testing.T) {
	var hash Hash
	hash[0] = 1
	local := Handshake{Reserved: Reserved{}.WithExtended(), InfoHash: hash}
	tests := []struct {
		name  string
		reply []byte
		close bool
		want  string
	}{
		{"closes", nil, true, "peer closed the connection before answering"},
		{"silent", nil, false, "read handshake: timed out"},
		{"wrong pstr", append([]byte("\x13BitTorrent protocoX"), make([]byte, 48)...), false, "protocol string"},
		{"pstrlen 0", make([]byte, 68), false, "protocol string length 0"},
		{"other hash", hsBytes(Reserved{}, Hash{2}), false, "answered for info hash 02"},
		{"half", hsBytes(Reserved{}, hash)[:30], true, "peer closed the connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, other := pipePair(t, Config{HandshakeTimeout: 200 * time.Millisecond})
			go func() {
				buf := make([]byte, HandshakeLen)
				io.ReadFull(other, buf)
				other.Write(tt.reply)
				if tt.close {
					other.Close()
				}
			}()
			start := time.Now()
			_, err := c.Handshake(context.Background(), local)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func TestConnMessages(t *testing.T) {
	var hash Hash
	c, other := pipePair(t, Config{MaxMessageLen: 1 << 10, ReadTimeout: 300 * time.Millisecond})
	go func() {
		io.ReadFull(other, make([]byte, HandshakeLen))
		other.Write(hsBytes(Reserved{}.WithExtended(), hash))
		other.Write([]byte("\x00\x00\x00\x00"))                     // keep-alive
		other.Write([]byte("\x00\x00\x00\x04\x14\x00de"))           // extended handshake
		other.Write([]byte("\x00\x00\x00\x05\x04\x00\x00\x00\x09")) // have 9
		other.Write([]byte("\xff\xff\xff\xff"))                     // too long
	}()
	if _, err := c.Handshake(context.Background(), Handshake{Reserved: Reserved{}.WithExtended()}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(context.Background(), ExtendedMessage(0, []byte("de"))); err != nil {
		t.Fatal(err)
	}
	want := []string{"keep-alive", "extended id 0 (2 bytes)", "have 9"}
	for _, w := range want {
		m, err := c.ReadMessage(context.Background())
		if err != nil || m.String() != w {
			t.Fatalf("got %v %v, want %s", m, err, w)
		}
	}
	if c.State() != StateExtended {
		t.Errorf("state %v", c.State())
	}
	_, err := c.ReadMessage(context.Background())
	var pe *ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "message length 4294967295 exceeds the limit of 1024") {
		t.Fatalf("err = %v", err)
	}
}

func TestConnCancel(t *testing.T) {
	c, other := pipePair(t, Config{})
	go io.Copy(io.Discard, other)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Handshake(ctx, Handshake{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

// FuzzReadFrame: framing never panics or allocates past the limit; every
// message read re-encodes to the bytes it came from, and pooled reading
// (NextPooled, each message released once compared) reads the same.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x01"))
	f.Add([]byte("\x00\x00\x00\x06\x14\x07\x00\x00\x00\x03"))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add([]byte("\x00\x00\x00\x05\x04\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		pooled := FrameReader{R: bytes.NewReader(b), Max: 1 << 16}
		for {
			before := len(b) - r.Len()
			m, err := ReadFrame(r, 1<<16)
			if err != nil {
				return
			}
			_ = m.Validate()
			_ = m.String()
			enc, _ := m.AppendBinary(nil)
			if !bytes.Equal(enc, b[before:len(b)-r.Len()]) {
				t.Fatalf("re-encoded %q from %q", enc, b[before:len(b)-r.Len()])
			}
			pm, err := pooled.NextPooled()
			if err != nil {
				t.Fatalf("pooled read failed where ReadFrame read %v: %v", m, err)
			}
			if pm.KeepAlive != m.KeepAlive || pm.ID != m.ID || !bytes.Equal(pm.Payload, m.Payload) {
				t.Fatalf("pooled read %v, ReadFrame %v", pm, m)
			}
			pm.Release()
		}
	})
}

// FuzzHandshake: parsing never panics and round-trips.
func FuzzHandshake(f *testing.F) {
	f.Add(hsBytes(Reserved{}.WithExtended(), Hash{1}))
	f.Add(make([]byte, HandshakeLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Handshake
		if h.UnmarshalBinary(b) != nil {
			return
		}
		enc, _ := h.AppendBinary(nil)
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip %q", b)
		}
		_ = ClientName(h.PeerID)
	})
}

func TestEscapeBinary(t *testing.T) {
	if got := EscapeBinary("-LT2080-\xce9\\\x00~"); got != `-LT2080-\xce9\\\x00~` {
		t.Errorf("got %q", got)
	} // Every byte, against the rule written with fmt.
	for c := range 256 {
		want := string(rune(c))
		switch {
		case c == '\\':
			want = `\\`
		case c < 0x20 || c >= 0x7f:
			want = fmt.Sprintf(`\x%02x`, c)
		}
		if got := EscapeBinary([]byte{byte(c)}); got != want {
			t.Errorf("byte %#x: got %q, want %q", c, got, want)
		}
	}
}

// TestConnResumeAfterTimeout: a deadline that strikes in the middle of a
// message loses nothing; the next read completes the message.
func TestConnResumeAfterTimeout(t *testing.T) {
	c, other := pipePair(t, Config{ReadTimeout: 100 * time.Millisecond})
	next := make(chan struct{})
	go func() {
		io.ReadFull(other, make([]byte, HandshakeLen))
		other.Write(hsBytes(Reserved{}, Hash{}))
		other.Write([]byte("\x00\x00\x00\x05\x04\x00"))
		<-next
		other.Write([]byte("\x00\x00\x07"))
	}()
	if _, err := c.Handshake(context.Background(), Handshake{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.ReadMessage(context.Background())
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want timeout", err)
	}
	if c.MessageBuffered() {
		t.Error("half a message reported as buffered")
	}
	close(next)
	m, err := c.ReadMessage(context.Background())
	if err != nil || m.String() != "have 7" {
		t.Fatalf("got %v %v", m, err)
	}
}

// TestConnDeadlineDoesNotLeak: a context that expires during one operation
// never cuts short the next one (its deadline-in-the-past must land before
// the next deadline is set).
func TestConnDeadlineDoesNotLeak(t *testing.T) {
	c, other := pipePair(t, Config{})
	go func() {
		io.ReadFull(other, make([]byte, HandshakeLen))
		other.Write(hsBytes(Reserved{}, Hash{}))
		io.Copy(io.Discard, other)
	}()
	if _, err := c.Handshake(context.Background(), Handshake{}); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*time.Millisecond)
		_, err := c.ReadMessage(ctx)
		cancel()
		var te *TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("read: %v", err)
		}
		if err := c.WriteMessage(context.Background(), Message{KeepAlive: true}); err != nil {
			t.Fatalf("write %d after an expired read: %v", i, err)
		}
	}
}

// TestMachineFast: each BEP 6 message is legal in both directions only
// when both handshakes set the fast bit.
func TestMachineFast(t *testing.T) {
	fast := Reserved{}.WithFast()
	four := []byte{0, 0, 0, 3}
	msgs := []Message{
		{ID: HaveAll}, {ID: HaveNone},
		{ID: Suggest, Payload: four}, {ID: AllowedFast, Payload: four},
		{ID: Reject, Payload: make([]byte, 12)},
	}
	sides := []struct {
		name          string
		local, remote Reserved
		ok            bool
	}{
		{"neither", Reserved{}, Reserved{}, false},
		{"only we", fast, Reserved{}, false},
		{"only the peer", Reserved{}, fast, false},
		{"both", fast, LocalReserved(), true},
	}
	for _, sd := range sides {
		for _, msg := range msgs {
			t.Run(sd.name+"/"+msg.ID.String(), func(t *testing.T) {
				var m machine
				if err := m.sendHandshake(sd.local); err != nil {
					t.Fatal(err)
				}
				if err := m.receiveHandshake(sd.remote); err != nil {
					t.Fatal(err)
				}
				if m.fast() != sd.ok {
					t.Fatalf("fast() = %v, want %v", m.fast(), sd.ok)
				}
				err := m.receive(msg)
				var pe *ProtocolError
				switch {
				case sd.ok && err != nil:
					t.Fatalf("receive: %v", err)
				case !sd.ok && (!errors.As(err, &pe) || !strings.Contains(err.Error(), "fast extension was not negotiated") || pe.ID != msg.ID):
					t.Fatalf("receive: %v, want a ProtocolError naming %s", err, msg.ID)
				}
				if err := m.send(msg); (err == nil) != sd.ok {
					t.Fatalf("send: %v", err)
				}
			})
		}
	}
}

// TestConnFast: over a connection, the fast messages feed the peer's
// pieces; a choke keeps our requests under fast and a reject answers one.
func TestConnFast(t *testing.T) {
	c, other := pipePair(t, Config{})
	u32 := func(i uint32) []byte { return binary.BigEndian.AppendUint32(nil, i) }
	req := Message{ID: Request, Payload: append(u32(3), make([]byte, 8)...)}
	go func() {
		buf := make([]byte, HandshakeLen)
		other.Read(buf)
		other.Write(hsBytes(LocalReserved(), Hash{}))
		for _, m := range []Message{
			{ID: HaveAll}, {ID: Suggest, Payload: u32(5)}, {ID: Suggest, Payload: u32(5)},
			{ID: AllowedFast, Payload: u32(2)}, {ID: Choke},
		} {
			b, _ := m.AppendBinary(nil)
			other.Write(b)
		}
		io.ReadFull(other, make([]byte, 17)) // our request
		b, _ := Message{ID: Reject, Payload: req.Payload}.AppendBinary(nil)
		other.Write(b)
		b, _ = Message{ID: HaveNone}.AppendBinary(nil)
		other.Write(b)
	}()
	if _, err := c.Handshake(t.Context(), Handshake{Reserved: LocalReserved()}); err != nil {
		t.Fatal(err)
	}
	if !c.Fast() {
		t.Fatal("fast not negotiated")
	}
	read := func() Message {
		t.Helper()
		m, err := c.ReadMessage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	read()
	p := c.Pieces()
	if !p.Seed() || p.Summary() != "all pieces" {
		t.Fatalf("have_all: %s", p.Summary())
	}
	read()
	read()
	if got := p.Suggested(); !slices.Equal(got, []uint32{5}) {
		t.Errorf("suggested %v", got)
	}
	read()
	if !p.AllowedFast(2) || p.AllowedFast(5) || p.NumAllowedFast() != 1 {
		t.Error("allowed_fast 2")
	}
	if err := c.WriteMessage(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	read() // choke: under fast, the request stays pending
	if p.Pending(3) != 1 {
		t.Fatalf("pending after choke: %d", p.Pending(3))
	}
	if m := read(); m.ID != Reject || p.Pending(3) != 0 {
		t.Fatalf("%v: pending %d", m, p.Pending(3))
	}
	read()
	if p.Has(0) || p.NumHave() != 0 || !p.AllowedFast(2) {
		t.Error("have_none clears what the peer has, not what it allows")
	}
}

func TestPiecesFastBounds(t *testing.T) {
	var p Pieces
	p.SetCount(1000)
	msg := func(id MessageID, i uint32) Message {
		return Message{ID: id, Payload: binary.BigEndian.AppendUint32(nil, i)}
	}
	for i := range uint32(maxFastSet + 10) {
		p.apply(msg(Suggest, i))
		if note := p.apply(msg(AllowedFast, i)); (note != "") != (i >= maxFastSet) {
			t.Fatalf("allowed_fast %d: %q", i, note)
		}
	}
	if s := p.Suggested(); len(s) != maxFastSet || s[0] != 10 {
		t.Errorf("suggested keeps the latest %d: %v", maxFastSet, s[:3])
	}
	for _, id := range []MessageID{Suggest, AllowedFast} {
		if note := p.apply(msg(id, 1000)); !strings.Contains(note, "out of range") {
			t.Errorf("%s 1000 of 1000: %q", id, note)
		}
	}
	if note := p.apply(Message{ID: Reject, Payload: make([]byte, 12)}); !strings.Contains(note, "never requested") {
		t.Errorf("unsolicited reject: %q", note)
	}
}

// syscallCounter counts the system calls MessageBuffered makes (through
// SyscallConn) on a TCP connection.
type syscallCounter struct {
	*net.TCPConn
	n int
}

func (c *syscallCounter) SyscallConn() (syscall.RawConn, error) {
	c.n++
	return c.TCPConn.SyscallConn()
}

// tcpPair connects two TCP sockets on loopback; both are closed when the
// test ends.
func tcpPair(t *testing.T) (*net.TCPConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	other, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return nc.(*net.TCPConn), other
}

// TestMessageBufferedNoSyscall: with a whole message in our read buffer,
// MessageBuffered answers without asking the kernel; with none, it asks.
func TestMessageBufferedNoSyscall(t *testing.T) {
	nc, other := tcpPair(t)
	sc := &syscallCounter{TCPConn: nc}
	c := NewConn(sc, Config{ReadTimeout: 10 * time.Second})
	c.m = machine{state: StateOpen, local: LocalReserved(), remote: LocalReserved()}
	other.Write([]byte("\x00\x00\x00\x05\x04\x00\x00\x00\x07\x00\x00\x00\x05\x04\x00\x00\x00\x08")) // have 7, have 8
	if m, err := c.ReadMessage(context.Background()); err != nil || m.String() != "have 7" {
		t.Fatalf("got %v %v", m, err)
	}
	if c.br.Buffered() < 9 {
		t.Skipf("the second message came in a later segment (%d bytes buffered)", c.br.Buffered())
	}
	if !c.MessageBuffered() || sc.n != 0 {
		t.Errorf("second message buffered: MessageBuffered made %d system calls, want 0", sc.n)
	}
	if m, err := c.ReadMessage(context.Background()); err != nil || m.String() != "have 8" {
		t.Fatalf("got %v %v", m, err)
	}
	if c.MessageBuffered() {
		t.Error("nothing left, and MessageBuffered says a message is there")
	}
	if runtime.GOOS == "linux" && sc.n != 1 {
		t.Errorf("nothing buffered: %d system calls, want 1 (FIONREAD)", sc.n)
	}
}
