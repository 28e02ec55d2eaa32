package indexer

import (
	"errors"
	"fmt"
	"io"
)

// Position locates a record in the input of an ingest run.
type Position struct {
	Source int    // index of the source in the run's list (0 for a single stream)
	File   string // file name, or "stream" for an IngestPosts stream
	Line   int64  // 1-based line (or stream element) of the record
	Offset int64  // byte offset of the record's first byte in the (decompressed) file
	// CompressedRead is, for a compressed file (.zst, .gz), how many bytes of the file had been
	// read from disk when the record was read: the measure of progress against the file's size,
	// a little ahead of the record by what the decompressor holds. It is 0 for plain files and
	// streams, plays no part in resuming (Offset alone does) and is not stored in checkpoints.
	CompressedRead int64 `json:"-"`
}

// String formats the position for people: "file:line".
func (p Position) String() string {
	if p.File == "" {
		return fmt.Sprintf("record %d", p.Line)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Record is one item read from a crawl: a post, an identity (Stack Exchange Users.xml), or a
// row deliberately not ingested (Skip says why, e.g. a tag wiki).
type Record struct {
	Pos Position
	// Next is where the record after this one starts: resuming there skips this record.
	Next     Position
	Post     *Post
	Identity *Identity
	Skip     string
}

// RecordError is a malformed record: reported with its position and skipped. It never aborts a
// run.
type RecordError struct {
	Pos     Position
	Next    Position // where reading resumes
	PostID  string   // when it could be read
	Field   string   // the field at fault, when there is one
	Message string
}

// Error implements error.
func (e *RecordError) Error() string {
	msg := e.Pos.String() + ": "
	if e.PostID != "" {
		msg += e.PostID + ": "
	}
	return msg + e.Message
}

// Reader yields the records of one input, in order. Read returns io.EOF after the last record,
// a *RecordError for a malformed record (reading may continue), and any other error when the
// input cannot be read further (the run stops). Readers are not safe for concurrent use.
type Reader interface {
	Read() (Record, error)
	Close() error
}

// Source is one crawl file (or stream) that can be read from a position.
type Source interface {
	// Name is how positions refer to the source (a path).
	Name() string
	// Open starts reading at from, a Next position of an earlier record of this source or the
	// zero Position for the beginning.
	Open(from Position) (Reader, error)
}

// Chain reads sources one after another starting at from (a Next position of an earlier run;
// the zero Position starts at the beginning). Positions carry the index of their source.
func Chain(sources []Source, from Position) Reader {
	return &chain{sources: sources, i: from.Source, from: from}
}

type chain struct {
	sources []Source
	i       int
	from    Position
	cur     Reader
}

func (c *chain) Read() (Record, error) {
	for {
		if c.cur == nil {
			if c.i >= len(c.sources) {
				return Record{}, io.EOF
			}
			from := c.from
			if from.Source != c.i {
				from = Position{Source: c.i}
			}
			from.Source = 0
			r, err := c.sources[c.i].Open(from)
			if err != nil {
				return Record{}, fmt.Errorf("%s: %w", c.sources[c.i].Name(), err)
			}
			c.cur = r
		}
		rec, err := c.cur.Read()
		if errors.Is(err, io.EOF) {
			if err := c.cur.Close(); err != nil {
				return Record{}, err
			}
			c.cur = nil
			c.i++
			continue
		}
		var re *RecordError
		if errors.As(err, &re) {
			re.Pos.Source, re.Next.Source = c.i, c.i
			return Record{}, re
		}
		if err != nil {
			return Record{}, err
		}
		rec.Pos.Source, rec.Next.Source = c.i, c.i
		return rec, nil
	}
}

func (c *chain) Close() error {
	if c.cur != nil {
		err := c.cur.Close()
		c.cur = nil
		return err
	}
	return nil
}

// EndOf returns the position after the last source: the resume point of a finished run.
func EndOf(sources []Source) Position { return Position{Source: len(sources)} }

// ReadAll reads r to the end: the records, the rejected records, and the error that stopped it
// (nil at the end of the input). It closes r.
func ReadAll(r Reader) ([]Record, []*RecordError, error) {
	defer r.Close()
	var recs []Record
	var rejects []*RecordError
	for {
		rec, err := r.Read()
		var re *RecordError
		switch {
		case errors.Is(err, io.EOF):
			return recs, rejects, nil
		case errors.As(err, &re):
			rejects = append(rejects, re)
		case err != nil:
			return recs, rejects, err
		default:
			recs = append(recs, rec)
		}
	}
}
