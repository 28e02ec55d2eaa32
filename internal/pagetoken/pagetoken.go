// Package pagetoken encodes the opaque page tokens of list calls: the sort key of the last row
// returned (a time and an id), so that the next page starts strictly after it (keyset
// pagination, stable under concurrent inserts).
package pagetoken

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openroyalty/royalty"
)

// Cursor is the position after which the next page starts.
type Cursor struct {
	Time time.Time
	ID   string
}

// Encode returns the token for c.
func Encode(c Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.Time.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

// Decode parses a token; the empty token is the zero Cursor (the first page). A malformed token
// is an EINVALID error about "page_token".
func Decode(token string) (Cursor, bool, error) {
	if token == "" {
		return Cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, false, royalty.FieldErrorf(royalty.EINVALID, "page_token", "malformed")
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return Cursor{}, false, royalty.FieldErrorf(royalty.EINVALID, "page_token", "malformed")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if _, uerr := uuid.Parse(id); err != nil || uerr != nil {
		return Cursor{}, false, royalty.FieldErrorf(royalty.EINVALID, "page_token", "malformed")
	}
	return Cursor{Time: t, ID: id}, true, nil
}

// Size clamps a requested page size to [1, max], with def for zero or negative requests.
func Size(requested, def, max int) int {
	switch {
	case requested <= 0:
		return def
	case requested > max:
		return max
	}
	return requested
}
