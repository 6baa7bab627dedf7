package metadata_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peertest"
)

// The scheduler's policies as event sequences: no sockets, no clock; each
// step happens at a given millisecond and its plan is checked.

// info is 5 pieces, the last one 1000 bytes.
var info = peertest.InfoOfSize(4*metadata.PieceSize + 1000)

const size = int64(4*metadata.PieceSize + 1000)

type step struct {
	ms int
	ev metadata.Event
	// sends: peer -> pieces requested in this plan (-1: LT_metadata size
	// probe); every peer not named must get no request. nil: not checked.
	sends map[int][]int
	// dials: peers dialled; nil: not checked.
	dials []int
	// closes: peer -> a substring of the error it is closed for; every
	// peer not named must not be closed. nil: not checked.
	closes map[int]string
	// deadline: peer -> the deadline of its order, in ms (0: none); only
	// the peers named are checked, and each must get an order.
	deadline map[int]int
	// done: "" the fetch goes on; "ok" verified; else a substring of the
	// error it failed with.
	done string
	// extID: peer -> the extension id its requests in this plan carry.
	extID map[int]uint8
}

var none = map[int][]int{}

func addr(i int) metadata.PeerAddr {
	return metadata.PeerAddr{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(6881+i)), Source: "test"}
}

func found(i int) metadata.Event { return metadata.Discovered{Addr: addr(i)} }

func sizeOf(n int64) *int64 { return &n }

// ut connects peer p offering ut_metadata (id 3) with the right size.
func ut(p int) metadata.Event {
	return metadata.Connected{Peer: p, UT: 3, MetadataSize: sizeOf(size), Offered: []string{"ut_metadata"}}
}

// client connects peer p as the client named by its peer id prefix.
func client(p int, prefix string) metadata.Event {
	e := ut(p).(metadata.Connected)
	copy(e.PeerID[:], prefix)
	return e
}

func claims(p int, n int64) metadata.Event {
	return metadata.Connected{Peer: p, UT: 3, MetadataSize: sizeOf(n)}
}

func lt(p int, withSize bool) metadata.Event {
	e := metadata.Connected{Peer: p, LT: 9, Offered: []string{"LT_metadata"}}
	if withSize {
		e.MetadataSize = sizeOf(size)
	}
	return e
}

func pieceOf(b []byte, i int) []byte {
	return b[i*metadata.PieceSize : i*metadata.PieceSize+metadata.PieceLen(len(b), i)]
}

func data(p, i int) metadata.Event {
	return metadata.Data{Peer: p, Piece: i, Total: size, Bytes: pieceOf(info, i)}
}

func corrupt(p, i int) metadata.Event {
	b := bytes.Clone(pieceOf(info, i))
	b[0] ^= 0xff
	return metadata.Data{Peer: p, Piece: i, Total: size, Bytes: b}
}

// ltData answers an LT_metadata request for piece i in full.
func ltData(p, i int) metadata.Event {
	start, n := metadata.LTCover(i*metadata.PieceSize, i*metadata.PieceSize+metadata.PieceLen(len(info), i), len(info))
	first, last := metadata.LTRange(start, n, len(info))
	return metadata.LTDataEvent{Peer: p, Total: len(info), Offset: first, Bytes: info[first:last]}
}

// ltProbe answers the LT_metadata size probe.
func ltProbe(p int) metadata.Event {
	_, last := metadata.LTRange(0, 1, len(info))
	return metadata.LTDataEvent{Peer: p, Total: len(info), Offset: 0, Bytes: info[:last]}
}

func reject(p, i int) metadata.Event { return metadata.Rejected{Peer: p, Piece: i} }
func tick(p int) metadata.Event      { return metadata.Tick{Peer: p} }
func gone(p int, err string) metadata.Event {
	return metadata.Gone{Peer: p, Err: fmt.Errorf("%s", err)}
}

func TestScheduler(t *testing.T) {
	hash := peertest.HashOf(info)
	target := metainfo.Target{V1: (*metainfo.Hash)(&hash)}
	tests := []struct {
		name  string
		cfg   metadata.SchedulerConfig
		steps []step
	}{
		{"two peers share the pieces, endgame at the end", metadata.SchedulerConfig{}, []step{
			{ev: found(0), dials: []int{0}, sends: none},
			{ev: found(1), dials: []int{1}},
			{ev: metadata.SourceDone{}, dials: []int{}, sends: none},
			// A window of two to start with.
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}, deadline: map[int]int{0: 5000}},
			{ev: ut(1), sends: map[int][]int{1: {2, 3}}},
			// An answer grows the window by one: the last free piece,
			// then (endgame) one another peer has out.
			{ms: 100, ev: data(0, 0), sends: map[int][]int{0: {4, 2}}},
			{ms: 150, ev: data(1, 2), sends: map[int][]int{1: {1, 4}}},
			{ms: 200, ev: data(0, 1), sends: map[int][]int{0: {3}}},
			{ms: 210, ev: data(0, 4), sends: none},
			// Piece 2 again from 0: an answer to its endgame request.
			{ms: 220, ev: data(0, 2), sends: none},
			{ms: 230, ev: data(1, 3), done: "ok"},
		}},
		{"a peer with nothing out asks for the piece fewest peers have out", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: found(2)}, {ev: found(3)}, {ev: found(4)}, {ev: found(5)},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: ut(1), sends: map[int][]int{1: {2, 3}}},
			{ev: ut(2), sends: map[int][]int{2: {4, 0}}},
			{ev: ut(3), sends: map[int][]int{3: {1, 2}}},
			{ev: ut(4), sends: map[int][]int{4: {3, 4}}},
			// Every piece is out twice: the sixth peer still gets one.
			{ev: ut(5), sends: map[int][]int{5: {0}}},
			{ms: 10, ev: data(5, 0), sends: map[int][]int{5: {1}}},
			{ms: 20, ev: data(5, 1), sends: map[int][]int{5: {2}}},
		}},
		{"a pause of a queueing peer costs one timeout, not one per request", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: client(0, "-TR3000-"), sends: map[int][]int{0: {0, 1}}},
			{ms: 100, ev: data(0, 0), sends: map[int][]int{0: {2, 3}}},
			// Answers 100 ms apart: the timer is at its floor, 1 s from
			// the last answer.
			{ms: 200, ev: data(0, 1), sends: map[int][]int{0: {4}}, deadline: map[int]int{0: 1200}},
			// The peer pauses. One request (the oldest, piece 2) times
			// out; the next deadline counts from that timeout, backed off
			// to 2 s, whatever else is out.
			{ms: 1200, ev: tick(0), sends: none, deadline: map[int]int{0: 3200}},
			// Then it answers everything that queued, the late piece too.
			{ms: 2000, ev: data(0, 2), sends: none, closes: map[int]string{}},
			{ms: 2010, ev: data(0, 3)},
			{ms: 2020, ev: data(0, 4), done: "ok"},
		}},
		{"duplicate, late and unrequested answers", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}, deadline: map[int]int{0: 5000}},
			{ms: 100, ev: data(0, 0), sends: map[int][]int{0: {2, 3}}},
			// The same answer again: dropped, nothing asked.
			{ms: 110, ev: data(0, 0), sends: none, closes: map[int]string{}},
			// Piece 1 times out (5 s after the answer at 100 ms): the
			// window halves to 1 and nothing is asked; piece 1 is late.
			{ms: 5100, ev: tick(0), sends: none},
			// Its late answer is taken.
			{ms: 5200, ev: data(0, 1), sends: none},
			{ms: 5300, ev: data(0, 2), sends: map[int][]int{0: {4}}},
			// A piece never asked for: a protocol violation.
			{ms: 5400, ev: metadata.Data{Peer: 0, Piece: 9, Total: size, Bytes: []byte("x")}, closes: map[int]string{0: "piece 9, which was not requested"}, done: "not requested"},
		}},
		{"LT_metadata: late and repeated answers", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: lt(0, true), sends: map[int][]int{0: {0, 1}}},
			{ms: 100, ev: ltData(0, 0), sends: map[int][]int{0: {2, 3}}, deadline: map[int]int{0: 1100}},
			{ms: 110, ev: ltData(0, 0), sends: none, closes: map[int]string{}},
			// Piece 1 times out: late; the window halves to 1.
			{ms: 1100, ev: tick(0), sends: none, deadline: map[int]int{0: 3100}},
			{ms: 1200, ev: ltData(0, 1), sends: none, closes: map[int]string{}},
			{ms: 1300, ev: ltData(0, 2), sends: map[int][]int{0: {4}}},
			{ms: 1400, ev: ltData(0, 3)},
			{ms: 1500, ev: ltData(0, 4), done: "ok"},
		}},
		{"LT_metadata: bytes never asked for", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: lt(0, true), sends: map[int][]int{0: {0, 1}}},
			{ms: 10, ev: ltData(0, 3), closes: map[int]string{0: "which were not requested"}, done: "not requested"},
		}},
		{"a liar is found and banned after a hash failure", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: ut(1), sends: map[int][]int{1: {2, 3}}},
			{ms: 10, ev: corrupt(0, 0), sends: map[int][]int{0: {4, 2}}},
			{ms: 20, ev: corrupt(0, 1), sends: map[int][]int{0: {3}}},
			{ms: 30, ev: corrupt(0, 4)},
			{ms: 40, ev: data(1, 2)},
			// The copy is complete and fails: nobody is banned yet (two
			// sources); the peer that delivered most (0) fetches alone,
			// with its window of 5, the pieces it had out (late) last.
			{ms: 50, ev: data(1, 3), sends: map[int][]int{0: {0, 1, 4, 2, 3}}, closes: map[int]string{}},
			// A repeat from 1: dropped.
			{ms: 60, ev: data(1, 2), sends: none, closes: map[int]string{}},
			{ms: 70, ev: corrupt(0, 0), sends: none},
			{ms: 80, ev: corrupt(0, 1)}, {ms: 90, ev: corrupt(0, 4)}, {ms: 100, ev: corrupt(0, 2)},
			// A copy from 0 alone fails: 0 is the liar, banned and closed;
			// 1 fetches alone.
			{ms: 110, ev: corrupt(0, 3), closes: map[int]string{0: "does not match the info hash"}, sends: map[int][]int{1: {0, 1, 2, 3}}},
			{ms: 120, ev: data(1, 0)}, {ms: 130, ev: data(1, 1)}, {ms: 140, ev: data(1, 2)}, {ms: 150, ev: data(1, 3)},
			{ms: 160, ev: data(1, 4), done: "ok"},
		}},
		{"a liar alone fails the fetch", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ms: 10, ev: corrupt(0, 0)}, {ms: 20, ev: corrupt(0, 1)}, {ms: 30, ev: corrupt(0, 2)}, {ms: 40, ev: corrupt(0, 3)},
			{ms: 50, ev: corrupt(0, 4), closes: map[int]string{0: "does not match"}, done: "does not match the info hash"},
		}},
		{"a slow owner hands the fetch over to a peer that delivered more", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: found(2)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: ut(1), sends: map[int][]int{1: {2, 3}}},
			{ev: ut(2), sends: map[int][]int{2: {4, 0}}},
			{ms: 10, ev: data(1, 2), sends: map[int][]int{1: {1, 4}}},
			{ms: 11, ev: data(1, 3), sends: none},
			{ms: 12, ev: data(0, 0), sends: none},
			// 0 has nothing out: it joins the endgame for piece 4, out
			// twice already.
			{ms: 13, ev: data(0, 1), sends: map[int][]int{0: {4}}},
			// 2's piece 4 is bad: the copy of three sources fails; 0 and 1
			// delivered 2 each, the first of equals (0) fetches alone.
			{ms: 20, ev: corrupt(2, 4), sends: map[int][]int{0: {0, 1, 2, 3}}, closes: map[int]string{}},
			// 1 answers its piece 4 from before: not taken, but counted.
			{ms: 30, ev: data(1, 4), sends: none},
			// 0 stalls: its oldest request times out (the timer learnt
			// from its answers: 1 s); 1 has delivered more: it takes over.
			{ms: 1019, ev: tick(0), sends: none},
			// 1's window is 5: its own late piece 1 comes last.
			{ms: 1020, ev: tick(0), sends: map[int][]int{1: {0, 2, 3, 4, 1}}},
			{ms: 1030, ev: data(0, 1), sends: none}, // 0's answer: no longer taken
			{ms: 1040, ev: data(1, 0), sends: none},
			{ms: 1050, ev: data(1, 2)}, {ms: 1060, ev: data(1, 3)}, {ms: 1070, ev: data(1, 4)},
			{ms: 1080, ev: data(1, 1), done: "ok"},
		}},
		{"the owner gone: start over with the next", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: found(2)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: ut(1), sends: map[int][]int{1: {2, 3}}},
			{ev: ut(2), sends: map[int][]int{2: {4, 0}}},
			{ms: 10, ev: data(0, 0)}, {ms: 11, ev: data(0, 1)},
			{ms: 12, ev: data(1, 2)}, {ms: 13, ev: data(1, 3)},
			// 2's piece 4 is bad, the copy fails: 0 delivered 2, as did 1;
			// the first of equals (0) fetches alone.
			{ms: 20, ev: corrupt(2, 4), sends: map[int][]int{0: {0, 1, 2, 3}}},
			// 0 is gone: its copy cannot be blamed on anyone else: start
			// over with 1 (delivered 2).
			{ms: 30, ev: gone(0, "reset"), sends: map[int][]int{1: {0, 1, 2, 3}}},
			{ms: 40, ev: data(1, 0)}, {ms: 41, ev: data(1, 1)}, {ms: 42, ev: data(1, 2)}, {ms: 43, ev: data(1, 3)},
			{ms: 50, ev: data(1, 4), done: "ok"},
		}},
		{"an owner that delivered nothing hands over to the next in turn", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: ut(1), sends: map[int][]int{1: {2, 3}}},
			{ms: 10, ev: data(0, 0), sends: map[int][]int{0: {4, 2}}},
			{ms: 11, ev: data(0, 1), sends: map[int][]int{0: {3}}},
			{ms: 12, ev: data(1, 2), sends: map[int][]int{1: {4}}},
			{ms: 13, ev: corrupt(1, 3), sends: none},
			{ms: 14, ev: data(0, 4), sends: map[int][]int{0: {0, 1, 4, 2, 3}}},
			{ms: 20, ev: gone(0, "reset"), sends: map[int][]int{1: {0, 1, 2, 3}}},
			// Every peer gone, but the source is not exhausted: wait.
			{ms: 30, ev: gone(1, "reset"), sends: none},
			{ms: 40, ev: found(2), dials: []int{2}},
			{ms: 50, ev: ut(2), sends: map[int][]int{2: {0, 1}}},
			{ms: 60, ev: found(3), dials: []int{3}},
			{ms: 70, ev: ut(3), sends: none},
			// 2 owns the fetch, delivers nothing: at its first timeout it
			// hands over to the next peer.
			{ms: 5050, ev: tick(2), sends: map[int][]int{3: {0, 1}}},
			{ms: 5060, ev: data(3, 0)}, {ms: 5061, ev: data(3, 1)}, {ms: 5062, ev: data(3, 2)}, {ms: 5063, ev: data(3, 3)},
			{ms: 5064, ev: data(3, 4), done: "ok"},
		}},
		{"sizes in reserve", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: metadata.SourceDone{}},
			// 0 claims a wrong size first: it is the one fetched; 1 waits.
			{ev: claims(0, size+1), sends: map[int][]int{0: {0, 1}}},
			{ev: ut(1), sends: none},
			// 0 leaves: the size 1 claims is tried.
			{ms: 10, ev: gone(0, "closed"), sends: map[int][]int{1: {0, 1}}},
			{ms: 20, ev: data(1, 0)}, {ms: 21, ev: data(1, 1)}, {ms: 22, ev: data(1, 2)}, {ms: 23, ev: data(1, 3)},
			{ms: 24, ev: data(1, 4), done: "ok"},
		}},
		{"a reject is backed off and retried elsewhere", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: metadata.SourceDone{}},
			{ev: client(0, "-lt0D60-"), sends: map[int][]int{0: {0}}}, // rtorrent: one at a time
			{ev: client(1, "-lt0D60-"), sends: map[int][]int{1: {1}}},
			// 0 rejects piece 0: 0 is asked for another piece; 1 is busy.
			{ms: 100, ev: reject(0, 0), sends: map[int][]int{0: {2}}},
			// 1 answers: it is asked for piece 0.
			{ms: 200, ev: data(1, 1), sends: map[int][]int{1: {0}}},
			{ms: 300, ev: data(0, 2), sends: map[int][]int{0: {3}}},
			{ms: 400, ev: data(1, 0), sends: map[int][]int{1: {4}}},
			// Endgame: 0 asks for the last piece too.
			{ms: 500, ev: data(0, 3), sends: map[int][]int{0: {4}}},
			{ms: 600, ev: data(1, 4), done: "ok"},
		}},
		{"rejected every request: backed off, then given up", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: client(0, "-lt0D60-"), sends: map[int][]int{0: {0}}},
			{ms: 10, ev: data(0, 0), sends: map[int][]int{0: {1}}},
			{ms: 20, ev: reject(0, 1), sends: map[int][]int{0: {2}}},
			{ms: 30, ev: data(0, 2), sends: map[int][]int{0: {3}}},
			{ms: 40, ev: data(0, 3), sends: map[int][]int{0: {4}}},
			// Piece 1 may be asked again 500 ms after its reject.
			{ms: 50, ev: data(0, 4), sends: none, deadline: map[int]int{0: 520}},
			{ms: 520, ev: tick(0), sends: map[int][]int{0: {1}}},
			{ms: 530, ev: reject(0, 1), sends: none, deadline: map[int]int{0: 1530}},
			{ms: 1530, ev: tick(0), sends: map[int][]int{0: {1}}},
			{ms: 1540, ev: reject(0, 1), closes: map[int]string{0: "rejected every request"}, done: "rejected every request"},
		}},
		{"the extension disabled, then enabled under another id", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: client(1, "-lt0D60-"), sends: map[int][]int{1: {2}}},
			// 0 disables ut_metadata: paused, not an error; its requests
			// go back to the pool, for 1 when it answers.
			{ms: 10, ev: metadata.ExtChanged{Peer: 0}, sends: none, closes: map[int]string{}},
			{ms: 20, ev: data(1, 2), sends: map[int][]int{1: {0}}},
			// 0 enables it again under id 7: it goes on, with the pieces
			// it had out (late) last.
			{ms: 30, ev: metadata.ExtChanged{Peer: 0, UT: 7}, sends: map[int][]int{0: {3, 4}}, extID: map[int]uint8{0: 7}},
			// A late answer to its request from before the pause is taken.
			{ms: 40, ev: data(0, 0), sends: map[int][]int{0: {1}}},
			{ms: 50, ev: data(0, 1)}, {ms: 60, ev: data(0, 3)},
			{ms: 70, ev: data(0, 4), done: "ok"},
		}},
		{"the extension disabled: the other metadata extension goes on", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: metadata.Connected{Peer: 0, UT: 3, LT: 9, MetadataSize: sizeOf(size)}, sends: map[int][]int{0: {0, 1}}, extID: map[int]uint8{0: 3}},
			{ms: 10, ev: metadata.ExtChanged{Peer: 0, LT: 9}, sends: map[int][]int{0: {2, 3}}, extID: map[int]uint8{0: 9}},
			{ms: 20, ev: ltData(0, 2), sends: map[int][]int{0: {4, 0}}},
			{ms: 21, ev: ltData(0, 3), sends: map[int][]int{0: {1}}},
			{ms: 22, ev: ltData(0, 4)}, {ms: 23, ev: ltData(0, 0)},
			{ms: 24, ev: ltData(0, 1), done: "ok"},
		}},
		{"a paused peer keeps the fetch open until it leaves", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ms: 10, ev: metadata.ExtChanged{Peer: 0}, sends: none},
			{ms: 60000, ev: tick(0), sends: none},
			{ms: 60010, ev: gone(0, "peer closed the connection"), done: "peer closed the connection"},
		}},
		{"peers arriving after all others failed", metadata.SchedulerConfig{}, []step{
			{ev: found(0), dials: []int{0}},
			{ms: 10, ev: gone(0, "connection refused"), dials: []int{}},
			{ev: found(1), dials: []int{1}},
			{ms: 20, ev: metadata.Connected{Peer: 1, UT: 0, Offered: []string{"ut_pex"}}, closes: map[int]string{1: "not supported by the peer (it offers ut_pex)"}},
			// The same address again: not dialled twice.
			{ms: 30, ev: found(1), dials: []int{}},
			{ms: 40, ev: found(2), dials: []int{2}},
			{ms: 50, ev: ut(2), sends: map[int][]int{2: {0, 1}}},
			{ms: 60, ev: metadata.SourceDone{}},
			{ms: 70, ev: data(2, 0)}, {ms: 71, ev: data(2, 1)}, {ms: 72, ev: data(2, 2)}, {ms: 73, ev: data(2, 3)},
			{ms: 74, ev: data(2, 4), done: "ok"},
		}},
		{"the source exhausted after every peer failed", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)},
			{ms: 10, ev: gone(0, "connection refused")},
			{ms: 20, ev: ut(1)},
			{ms: 30, ev: metadata.LTDontHaveEvent{Peer: 1}, closes: map[int]string{1: "don't have"}},
			{ms: 40, ev: metadata.SourceDone{}, done: `no peer delivered the metadata; 127.0.0.1:6882: metadata rejected by the peer: LT_metadata "don't have"`},
		}},
		{"a peer that disappears mid-piece", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: found(1)}, {ev: metadata.SourceDone{}},
			{ev: ut(0), sends: map[int][]int{0: {0, 1}}},
			{ev: client(1, "-lt0D60-"), sends: map[int][]int{1: {2}}},
			{ms: 10, ev: gone(0, "peer closed the connection"), sends: none},
			{ms: 20, ev: data(1, 2), sends: map[int][]int{1: {0}}},
			{ms: 30, ev: data(1, 0), sends: map[int][]int{1: {1}}},
			{ms: 40, ev: data(1, 1), sends: map[int][]int{1: {3}}},
			{ms: 50, ev: data(1, 3), sends: map[int][]int{1: {4}}},
			{ms: 60, ev: data(1, 4), done: "ok"},
		}},
		{"no metadata_size: ut_metadata piece 0 says it", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: metadata.Connected{Peer: 0, UT: 3}, sends: map[int][]int{0: {0}}},
			{ms: 10, ev: data(0, 0), sends: map[int][]int{0: {1, 2, 3}}},
			{ms: 20, ev: data(0, 0), sends: none, closes: map[int]string{}}, // a repeat
			{ms: 30, ev: data(0, 1)}, {ms: 40, ev: data(0, 2)}, {ms: 50, ev: data(0, 3)},
			{ms: 60, ev: data(0, 4), done: "ok"},
		}},
		{"no metadata_size: a total above the limit", metadata.SchedulerConfig{MaxSize: 1000}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: metadata.Connected{Peer: 0, UT: 3}, sends: map[int][]int{0: {0}}},
			{ms: 10, ev: data(0, 0), closes: map[int]string{0: "above the limit of 1000"}, done: "bad metadata size"},
		}},
		{"a slow LT_metadata peer: the size probe is asked again", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: lt(0, false), sends: map[int][]int{0: {-1}}, deadline: map[int]int{0: 5000}},
			// No answer in 5 s: asked again, the timer backed off to 10 s.
			{ms: 5000, ev: tick(0), sends: map[int][]int{0: {-1}}, deadline: map[int]int{0: 15000}},
			// The first answer, at 6 s, says the size.
			{ms: 6000, ev: ltProbe(0), sends: map[int][]int{0: {0}}},
			// The second answer is the repeat of the probe: taken as one.
			{ms: 6100, ev: ltProbe(0), sends: map[int][]int{0: {1, 2}}, closes: map[int]string{}},
			{ms: 6200, ev: ltData(0, 0)}, {ms: 6300, ev: ltData(0, 1)}, {ms: 6400, ev: ltData(0, 2)}, {ms: 6500, ev: ltData(0, 3)},
			{ms: 6600, ev: ltData(0, 4), done: "ok"},
		}},
		{"a silent LT_metadata peer times out, not rejected", metadata.SchedulerConfig{}, []step{
			{ev: found(0)}, {ev: metadata.SourceDone{}},
			{ev: lt(0, false), sends: map[int][]int{0: {-1}}, deadline: map[int]int{0: 5000}},
			{ms: 5000, ev: tick(0), deadline: map[int]int{0: 15000}},
			{ms: 15000, ev: tick(0), deadline: map[int]int{0: 25000}},
			{ms: 25000, ev: tick(0), deadline: map[int]int{0: 35000}},
			{ms: 35000, ev: tick(0), closes: map[int]string{0: "peer stopped answering LT_metadata requests: wait for metadata: timed out after 35s"}, done: "timed out"},
		}},
		{"dials bounded, connections bounded", metadata.SchedulerConfig{MaxDialing: 2, MaxConns: 3}, []step{
			{ev: found(0), dials: []int{0}}, {ev: found(1), dials: []int{1}}, {ev: found(2), dials: []int{}},
			{ev: found(3), dials: []int{}},
			{ev: ut(0), dials: []int{2}},
			{ev: ut(1), dials: []int{}}, // three open or dialling
			{ms: 10, ev: gone(1, "reset"), dials: []int{3}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Target = target
			s := metadata.NewScheduler(cfg)
			t0 := time.Unix(1000, 0)
			for n, st := range tt.steps {
				plan := s.Step(t0.Add(time.Duration(st.ms)*time.Millisecond), st.ev)
				where := fmt.Sprintf("step %d (%d ms, %T %+v)", n, st.ms, st.ev, brief(st.ev))
				check(t, where, t0, st, plan)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func brief(ev metadata.Event) any {
	switch e := ev.(type) {
	case metadata.Data:
		return fmt.Sprintf("peer %d piece %d", e.Peer, e.Piece)
	case metadata.LTDataEvent:
		return fmt.Sprintf("peer %d bytes %d+%d", e.Peer, e.Offset, len(e.Bytes))
	}
	return ev
}

func check(t *testing.T, where string, t0 time.Time, st step, plan metadata.Plan) {
	t.Helper()
	sends := map[int][]int{}
	closes := map[int]string{}
	orders := map[int]metadata.Order{}
	for _, o := range plan.Orders {
		orders[o.Peer] = o
		for _, r := range o.Send {
			sends[o.Peer] = append(sends[o.Peer], r.Piece)
			if id, ok := st.extID[o.Peer]; ok && r.ExtID != id {
				t.Errorf("%s: peer %d asked with id %d, want %d", where, o.Peer, r.ExtID, id)
			}
		}
		if o.Close {
			closes[o.Peer] = fmt.Sprint(o.Err)
		}
	}
	if st.sends != nil && !equalSends(sends, st.sends) {
		t.Errorf("%s: sends %v, want %v", where, sends, st.sends)
	}
	if st.dials != nil {
		var got []int
		for _, d := range plan.Dial {
			got = append(got, d.Peer)
		}
		if !slices.Equal(got, st.dials) && (len(got) != 0 || len(st.dials) != 0) {
			t.Errorf("%s: dials %v, want %v", where, got, st.dials)
		}
	}
	if st.closes != nil {
		if len(closes) != len(st.closes) {
			t.Errorf("%s: closes %v, want %v", where, closes, st.closes)
		}
		for p, want := range st.closes {
			if got, ok := closes[p]; !ok || !strings.Contains(got, want) {
				t.Errorf("%s: peer %d closed %v for %q, want %q", where, p, ok, got, want)
			}
		}
	}
	for p, ms := range st.deadline {
		o, ok := orders[p]
		switch {
		case !ok:
			t.Errorf("%s: no order for peer %d", where, p)
		case ms == 0 && !o.Deadline.IsZero(), ms != 0 && !o.Deadline.Equal(t0.Add(time.Duration(ms)*time.Millisecond)):
			t.Errorf("%s: peer %d deadline %v, want %d ms", where, p, o.Deadline.Sub(t0), ms)
		}
	}
	switch {
	case st.done == "" && plan.Done:
		t.Errorf("%s: done (%v), want the fetch to go on", where, plan.Err)
	case st.done == "ok" && (!plan.Done || plan.Err != nil || !bytes.Equal(plan.Info, info)):
		t.Errorf("%s: done %v err %v, want the verified info", where, plan.Done, plan.Err)
	case st.done != "" && st.done != "ok" && (!plan.Done || plan.Err == nil || !strings.Contains(plan.Err.Error(), st.done)):
		t.Errorf("%s: done %v err %v, want an error with %q", where, plan.Done, plan.Err, st.done)
	}
}

func equalSends(a, b map[int][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// BenchmarkSchedulerStep: the cost of one step, for a 8 MiB info
// dictionary (512 pieces) fetched from 8 peers that answer every request
// in the order sent.
func BenchmarkSchedulerStep(b *testing.B) {
	big := peertest.InfoOfSize(512 * metadata.PieceSize)
	hash := peertest.HashOf(big)
	target := metainfo.Target{V1: (*metainfo.Hash)(&hash)}
	total := int64(len(big))
	steps := 0
	for b.Loop() {
		s := metadata.NewScheduler(metadata.SchedulerConfig{Target: target})
		now := time.Unix(1000, 0)
		var queue []metadata.Data // requests to answer, in order
		take := func(plan metadata.Plan) bool {
			for _, o := range plan.Orders {
				for _, r := range o.Send {
					queue = append(queue, metadata.Data{Peer: o.Peer, Piece: r.Piece, Total: total, Bytes: pieceOf(big, r.Piece)})
				}
			}
			return plan.Done
		}
		for i := range 8 {
			s.Step(now, metadata.Discovered{Addr: addr(i)})
		}
		s.Step(now, metadata.SourceDone{})
		for i := range 8 {
			take(s.Step(now, metadata.Connected{Peer: i, UT: 3, MetadataSize: &total}))
		}
		done := false
		for ; !done && len(queue) > 0; steps++ {
			ev := queue[0]
			queue = queue[1:]
			now = now.Add(time.Millisecond)
			done = take(s.Step(now, ev))
		}
		if !done {
			b.Fatal("not done")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
}

// TestSchedulerProgress: the plan says how many peers are connected and
// delivering, for the progress line, as they come and go.
func TestSchedulerProgress(t *testing.T) {
	h := peertest.HashOf(info)
	target := metainfo.Target{V1: (*metainfo.Hash)(&h)}
	s := metadata.NewScheduler(metadata.SchedulerConfig{Target: target})
	now := time.Unix(1000, 0)
	s.Step(now, found(0))
	s.Step(now, found(1))
	s.Step(now, metadata.SourceDone{})
	check := func(plan metadata.Plan, have, connected, delivering int) {
		t.Helper()
		if !plan.Progress || plan.Have != have || plan.Connected != connected || plan.Delivering != delivering {
			t.Errorf("plan progress %v have %d connected %d delivering %d; want have %d connected %d delivering %d",
				plan.Progress, plan.Have, plan.Connected, plan.Delivering, have, connected, delivering)
		}
	}
	check(s.Step(now, ut(0)), 0, 1, 0)
	check(s.Step(now, ut(1)), 0, 2, 0)
	check(s.Step(now, data(0, 0)), 1, 2, 1)
	check(s.Step(now, metadata.Gone{Peer: 1}), 1, 1, 1)
}
