// Package lines reads crawl files line by line in constant memory, with the byte offset and
// number of every line so that a run can report positions and resume where it stopped.
// Files ending in .zst (Pushshift) and .gz are decompressed on the fly; offsets then count
// decompressed bytes, and resuming decompresses and discards up to the offset. Positions in a
// compressed file also carry the compressed bytes read so far (Position.CompressedRead), which
// measure progress against the file's size.
package lines

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
)

// MaxZstdWindow is the largest zstd window accepted. Pushshift dumps are compressed with
// --long=31, a 2 GiB window, beyond the library's default limit.
const MaxZstdWindow = 1 << 31

// DefaultMaxLine bounds one record. A longer line is reported as too long and skipped; it is
// never held in memory whole.
const DefaultMaxLine = 16 << 20

// ErrTooLong is returned for a line longer than the reader's limit; the line has been skipped.
var ErrTooLong = errors.New("line too long")

// Compressed reports whether Open decompresses the file at path: its name ends in .zst or .gz.
func Compressed(path string) bool {
	return strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz")
}

// Open opens the file at path positioned at offset (of its decompressed content). For a
// compressed file the result also has a method CompressedRead() int64: the bytes read from the
// file so far, the skipped ones included.
func Open(path string, offset int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	var closeDec func()
	cf := &countingReader{r: f}
	switch {
	case strings.HasSuffix(path, ".zst"):
		d, err := zstd.NewReader(cf, zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r, closeDec = d, d.Close
	case strings.HasSuffix(path, ".gz"):
		g, err := gzip.NewReader(cf)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r, closeDec = g, func() { g.Close() }
	default:
		if offset > 0 {
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				f.Close()
				return nil, err
			}
		}
		return f, nil
	}
	if offset > 0 {
		if n, err := io.CopyN(io.Discard, r, offset); err != nil {
			closeDec()
			f.Close()
			return nil, fmt.Errorf("%s: skipping to offset %d (reached %d): %w", path, offset, n, err)
		}
	}
	return &decoded{Reader: r, closeDec: closeDec, f: f, cf: cf}, nil
}

type decoded struct {
	io.Reader
	closeDec func()
	f        *os.File
	cf       *countingReader
}

// CompressedRead is how many bytes of the compressed file have been read.
func (d *decoded) CompressedRead() int64 { return d.cf.n }

// countingReader counts the bytes read through it: the file beneath a decompressor.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (d *decoded) Close() error {
	d.closeDec()
	return d.f.Close()
}

// Reader splits a stream into lines.
type Reader struct {
	br      *bufio.Reader
	offset  int64 // of the next line
	line    int64 // number of the next line
	maxLine int
	buf     []byte
}

// NewReader reads lines from r, whose first byte is at offset and begins line number line
// (1-based; 0 means 1). maxLine bounds a line (DefaultMaxLine when 0).
func NewReader(r io.Reader, offset, line int64, maxLine int) *Reader {
	if line <= 0 {
		line = 1
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, 256<<10), offset: offset, line: line, maxLine: maxLine}
}

// Line is one line of input without its terminator ("\n" or "\r\n").
type Line struct {
	Bytes  []byte // valid until the next call to Next
	Num    int64  // 1-based line number
	Offset int64  // byte offset of the first byte
}

// Next returns the next line; io.EOF at the end. A line longer than the limit is consumed and
// reported with ErrTooLong (its Num and Offset are set). Next returns the last line even when it
// lacks a terminator.
func (r *Reader) Next() (Line, error) {
	l := Line{Num: r.line, Offset: r.offset}
	r.buf = r.buf[:0]
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.offset += int64(len(chunk))
		if !tooLong {
			if len(r.buf)+len(chunk) > r.maxLine+2 {
				tooLong, r.buf = true, r.buf[:0]
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return l, err
		}
		if errors.Is(err, io.EOF) && len(chunk) == 0 && len(r.buf) == 0 && !tooLong {
			return l, io.EOF
		}
		r.line++
		if tooLong {
			return l, ErrTooLong
		}
		l.Bytes = bytes.TrimSuffix(bytes.TrimSuffix(r.buf, []byte("\n")), []byte("\r"))
		return l, nil
	}
}

// Offset is the byte offset of the next line.
func (r *Reader) Offset() int64 { return r.offset }

// LineNum is the number of the next line.
func (r *Reader) LineNum() int64 { return r.line }

// ParseFunc parses one line of a crawl file. It returns a record with neither Post, Identity nor
// Skip for lines that hold no record (an XML header, a blank line). On error it may return a
// record whose Post carries the id, so that the rejection can name it; an *royalty.Error names
// the field at fault.
type ParseFunc func(line []byte) (indexer.Record, error)

// Source is an indexer.Source over a line-oriented file (plain, .zst or .gz) whose lines parse
// independently: JSON lines, and Stack Exchange XML, which has one row per line.
type Source struct {
	Path    string
	Parse   ParseFunc
	MaxLine int // DefaultMaxLine when 0
}

// Name implements indexer.Source.
func (s *Source) Name() string { return s.Path }

// Open implements indexer.Source.
func (s *Source) Open(from indexer.Position) (indexer.Reader, error) {
	rc, err := Open(s.Path, from.Offset)
	if err != nil {
		return nil, err
	}
	sr := &sourceReader{src: s, rc: rc, lr: NewReader(rc, from.Offset, from.Line, s.MaxLine)}
	if d, ok := rc.(*decoded); ok {
		sr.cf = d.cf
	}
	return sr, nil
}

type sourceReader struct {
	src *Source
	rc  io.ReadCloser
	lr  *Reader
	cf  *countingReader // beneath the decompressor; nil for a plain file
}

func (r *sourceReader) Read() (indexer.Record, error) {
	for {
		l, err := r.lr.Next()
		pos := indexer.Position{File: r.src.Path, Line: l.Num, Offset: l.Offset}
		next := indexer.Position{File: r.src.Path, Line: r.lr.LineNum(), Offset: r.lr.Offset()}
		if r.cf != nil {
			pos.CompressedRead, next.CompressedRead = r.cf.n, r.cf.n
		}
		if errors.Is(err, ErrTooLong) {
			return indexer.Record{}, &indexer.RecordError{Pos: pos, Next: next,
				Message: fmt.Sprintf("record longer than %d bytes", r.lr.maxLine)}
		}
		if err != nil {
			return indexer.Record{}, err
		}
		rec, err := r.src.Parse(l.Bytes)
		if err != nil {
			re := &indexer.RecordError{Pos: pos, Next: next, Message: err.Error()}
			var e *royalty.Error
			if errors.As(err, &e) {
				re.Field, re.Message = e.Field, e.Message
			}
			if rec.Post != nil {
				re.PostID = rec.Post.ID
			}
			return indexer.Record{}, re
		}
		if rec.Post == nil && rec.Identity == nil && rec.Skip == "" {
			continue
		}
		rec.Pos, rec.Next = pos, next
		return rec, nil
	}
}

func (r *sourceReader) Close() error { return r.rc.Close() }
