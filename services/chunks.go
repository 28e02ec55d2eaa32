package services

import (
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// exportChunkBytes is the size of the chunks ExportJournal streams: large enough to amortise
// the per-message cost, far below the message size limit.
const exportChunkBytes = 64 << 10

// chunkWriter is an io.Writer that sends what is written as ExportJournal chunks of
// exportChunkBytes, so that an export of any size holds one chunk in memory.
type chunkWriter struct {
	send func(*v1.ExportJournalResponse) error
	buf  []byte
}

func newChunkWriter(send func(*v1.ExportJournalResponse) error) *chunkWriter {
	return &chunkWriter{send: send, buf: make([]byte, 0, exportChunkBytes)}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), exportChunkBytes-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == exportChunkBytes {
			if err := w.Flush(); err != nil {
				return n - len(p) - k, err
			}
		}
	}
	return n, nil
}

// Flush sends what is buffered, if anything.
func (w *chunkWriter) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	// gRPC forbids modifying a message after SendMsg (stats handlers may read it later), so each
	// chunk gets a fresh buffer; only one is live at a time.
	chunk := w.buf
	w.buf = make([]byte, 0, exportChunkBytes)
	return w.send(&v1.ExportJournalResponse{Chunk: chunk})
}
