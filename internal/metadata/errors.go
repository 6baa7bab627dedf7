package metadata

import "errors"

// ErrRejected: the peer refused to give the metadata. The command line
// maps it, like metainfo.ErrHashMismatch, to exit code 5.
var ErrRejected = errors.New("metadata rejected by the peer")
