package peer

import "fmt"

// State is where a connection is in its life.
type State uint8

const (
	// StateHandshaking: BT handshakes not yet exchanged; no message is legal.
	StateHandshaking State = iota
	// StateOpen: both BT handshakes done; extended handshakes not both done.
	StateOpen
	// StateExtended: both sides have sent their extended handshake.
	StateExtended
	// StateClosed: nothing more is read or written.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateHandshaking:
		return "handshaking"
	case StateOpen:
		return "open"
	case StateExtended:
		return "extended"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", s)
}

// ProtocolError is a violation of the peer wire protocol by the peer.
type ProtocolError struct {
	State  State
	ID     MessageID // the message id, when a message caused it
	HasID  bool      // whether ID is meaningful
	Reason string
}

func (e *ProtocolError) Error() string {
	if e.HasID {
		return fmt.Sprintf("protocol violation in state %s, message %s: %s", e.State, e.ID, e.Reason)
	}
	return fmt.Sprintf("protocol violation in state %s: %s", e.State, e.Reason)
}

// machine is the pure connection state: it sees every handshake and message
// in both directions and says whether it is legal. No sockets.
type machine struct {
	state    State
	sentBT   bool
	gotBT    bool
	local    Reserved
	remote   Reserved
	sentExt  bool // our extended handshake is out
	gotExt   bool // the peer's extended handshake arrived
	received int  // messages received since the handshake (keep-alives excluded)
}

func (m *machine) violation(id MessageID, hasID bool, format string, args ...any) error {
	return &ProtocolError{State: m.state, ID: id, HasID: hasID, Reason: fmt.Sprintf(format, args...)}
}

func (m *machine) sendHandshake(r Reserved) error {
	if m.state != StateHandshaking || m.sentBT {
		return fmt.Errorf("handshake sent twice or in state %s", m.state)
	}
	m.sentBT, m.local = true, r
	m.advanceBT()
	return nil
}

func (m *machine) receiveHandshake(r Reserved) error {
	if m.state != StateHandshaking || m.gotBT {
		return m.violation(0, false, "second handshake")
	}
	m.gotBT, m.remote = true, r
	m.advanceBT()
	return nil
}

func (m *machine) advanceBT() {
	if m.sentBT && m.gotBT {
		m.state = StateOpen
	}
}

func (m *machine) advanceExt() {
	if m.sentExt && m.gotExt && m.state == StateOpen {
		m.state = StateExtended
	}
}

// send checks a message we are about to send.
func (m *machine) send(msg Message) error {
	switch m.state {
	case StateHandshaking, StateClosed:
		return fmt.Errorf("cannot send %s in state %s", msg, m.state)
	}
	if msg.KeepAlive {
		return nil
	}
	if msg.ID.isFast() && !m.fast() {
		return fmt.Errorf("cannot send %s: the fast extension was not negotiated", msg.ID)
	}
	if msg.ID == Extended {
		if !m.remote.Extended() || !m.local.Extended() {
			return fmt.Errorf("cannot send an extended message: extension protocol not negotiated")
		}
		if len(msg.Payload) > 0 && msg.Payload[0] == 0 {
			m.sentExt = true
			m.advanceExt()
		}
	}
	return nil
}

// receive checks a message that arrived and moves the state on.
func (m *machine) receive(msg Message) error {
	switch m.state {
	case StateHandshaking:
		return m.violation(msg.ID, !msg.KeepAlive, "message before the handshake completed")
	case StateClosed:
		return m.violation(msg.ID, !msg.KeepAlive, "message after close")
	}
	if msg.KeepAlive {
		return nil
	}
	if err := msg.Validate(); err != nil {
		return m.violation(msg.ID, true, "%v", err)
	}
	switch {
	case msg.ID == Extended:
		if !m.local.Extended() || !m.remote.Extended() {
			return m.violation(msg.ID, true, "extended message without the extension bit negotiated")
		}
		if msg.Payload[0] == 0 {
			m.gotExt = true
			m.advanceExt()
		}
	case msg.ID.isFast():
		if !m.fast() {
			return m.violation(msg.ID, true, "fast extension message, but the fast extension was not negotiated")
		}
	}
	return nil
}

// fast reports whether both handshakes set the fast extension bit: BEP 6
// is enabled only then, and its messages are a violation otherwise.
func (m *machine) fast() bool { return m.local.Fast() && m.remote.Fast() }

func (m *machine) close() { m.state = StateClosed }
