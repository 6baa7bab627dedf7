package extensions

import "fmt"

// PayloadError: an extension message whose payload cannot be decoded
// (lt_donthave here; ut_metadata and LT_metadata in package metadata). The
// command line maps it to the protocol exit code.
type PayloadError struct {
	Ext    string // the extension's name
	Reason string
}

func (e *PayloadError) Error() string { return fmt.Sprintf("%s payload: %s", e.Ext, e.Reason) }
