package main

// eventJSON is extensions.Event in --watch and dont-have --json: an
// interface for scripts. The fields are Event's, so that eventJSON(e)
// converts one.
type eventJSON struct {
	Type string `json:"type"` // the message name: have, bitfield, lt_donthave, ut_pex, ...
	// Piece is set for have, lt_donthave, and the fast extension's
	// suggest_piece, allowed_fast and reject_request (BEP 6).
	Piece *uint32 `json:"piece,omitempty"`
	// Pieces summarises what the peer has after this message.
	Pieces string `json:"pieces,omitempty"`
	// Applied is set for lt_donthave: whether it changed anything; Ignored
	// says why not; Cancelled counts our requests it cancelled.
	Applied   *bool  `json:"applied,omitempty"`
	Ignored   string `json:"ignored,omitempty"`
	Cancelled int    `json:"cancelled,omitempty"`
	// UploadOnly is set for upload_only.
	UploadOnly *bool `json:"upload_only,omitempty"`
	// Added and Dropped are ut_pex peers.
	Added   []string `json:"added,omitempty"`
	Dropped []string `json:"dropped,omitempty"`
	// Changes lists what a re-sent extended handshake changed.
	Changes []string `json:"changes,omitempty"`
	// Len is the payload length; Detail anything else worth saying.
	Len    int    `json:"len"`
	Detail string `json:"detail,omitempty"`
	// Error is set when the message could not be decoded (it is ignored).
	Error string `json:"error,omitempty"`
}
