package stackexchange

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// row reads the attributes of a `<row …/>` line; ok is false for lines that are not rows.
//
// The dumps write every row the same way: `<row Name="value" … />`, ASCII names, values with
// the five named entities and numeric character references. fastRow reads that form in one
// pass; a line it does not recognise in every detail (other quoting or spacing, namespaced
// names, control characters, other entities, invalid UTF-8, …) goes to encoding/xml, which
// decides. The two agree on every line fastRow accepts (FuzzFastRow, TestFastRowRealDumps).
// encoding/xml was a sixth of the pipeline's CPU time in make bench-ingest.
func row(line []byte) (attrs []xml.Attr, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, []byte("<row")) {
		return nil, false, nil
	}
	if attrs, ok := fastRow(line); ok {
		return attrs, true, nil
	}
	return decodeRow(line)
}

// decodeRow reads a row with encoding/xml.
func decodeRow(line []byte) (attrs []xml.Attr, ok bool, err error) {
	d := xml.NewDecoder(bytes.NewReader(line))
	tok, err := d.RawToken()
	if err != nil {
		return nil, true, fmt.Errorf("malformed row: %v", err)
	}
	se, isStart := tok.(xml.StartElement)
	if !isStart || se.Name.Local != "row" {
		return nil, true, fmt.Errorf("malformed row")
	}
	if !bytes.HasSuffix(line, []byte("/>")) {
		return nil, true, fmt.Errorf("malformed row: not a self-closing <row/>")
	}
	// RawToken does not check what follows the tag; the suffix check above does.
	return se.Attr, true, nil
}

// fastRow reads line, which starts with "<row" and has no white space around it, when it is
// `<row` (space name="value")* space? `/>`; ok is false for anything else.
func fastRow(line []byte) (attrs []xml.Attr, ok bool) {
	i := len("<row")
	attrs = make([]xml.Attr, 0, 12)
	var val []byte // the current value, when it has references
	for {
		spaced := false
		for i < len(line) && line[i] == ' ' {
			i++
			spaced = true
		}
		if i+2 == len(line) && line[i] == '/' && line[i+1] == '>' {
			return attrs, true
		}
		if !spaced || i >= len(line) || !nameStart(line[i]) {
			return nil, false
		}
		start := i
		for i < len(line) && nameByte(line[i]) {
			i++
		}
		name := string(line[start:i])
		if i+1 >= len(line) || line[i] != '=' || line[i+1] != '"' {
			return nil, false
		}
		i += 2
		start = i
		val = val[:0]
		plain := true // no reference so far: the value is line[start:i]
		for {
			if i >= len(line) {
				return nil, false
			}
			c := line[i]
			if c == '"' {
				break
			}
			switch {
			case c == '&':
				if plain {
					val = append(val, line[start:i]...)
					plain = false
				}
				r, n := reference(line[i:])
				if n == 0 {
					return nil, false
				}
				val = utf8.AppendRune(val, r)
				i += n
				continue
			case c == '<' || c < 0x20:
				return nil, false
			case c >= utf8.RuneSelf:
				r, n := utf8.DecodeRune(line[i:])
				if r == utf8.RuneError && n == 1 || !inCharacterRange(r) {
					return nil, false
				}
				if !plain {
					val = append(val, line[i:i+n]...)
				}
				i += n
				continue
			}
			if !plain {
				val = append(val, c)
			}
			i++
		}
		value := string(val)
		if plain {
			value = string(line[start:i])
		}
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
		i++ // the closing quote
	}
}

// reference decodes the character or entity reference at the start of b ("&amp;", "&#xA;",
// "&#10;") and returns its rune and length, or a length of 0 when it is none of those or
// names a character that XML does not allow.
func reference(b []byte) (rune, int) {
	end := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if end < 0 {
		return 0, 0
	}
	switch ref := string(b[1:end]); ref {
	case "amp":
		return '&', end + 1
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "quot":
		return '"', end + 1
	case "apos":
		return '\'', end + 1
	default:
		if len(ref) < 2 || ref[0] != '#' {
			return 0, 0
		}
		digits, base := ref[1:], 10
		if digits[0] == 'x' {
			digits, base = digits[1:], 16
		}
		if digits == "" || digits[0] == '+' || digits[0] == '-' {
			return 0, 0
		}
		n, err := strconv.ParseUint(digits, base, 32)
		if err != nil || n > utf8.MaxRune || !inCharacterRange(rune(n)) || 0xD800 <= n && n <= 0xDFFF {
			return 0, 0
		}
		return rune(n), end + 1
	}
}

// inCharacterRange is XML's Char production.
func inCharacterRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func nameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func nameByte(c byte) bool {
	return nameStart(c) || '0' <= c && c <= '9' || c == '.' || c == '-'
}
