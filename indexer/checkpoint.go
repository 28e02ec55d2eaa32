package indexer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Checkpoint is the durable progress of an ingest job: everything before Resume is in the store
// and the index. A run of the same job after a crash starts at Resume.
type Checkpoint struct {
	Job     string      // JobID of the run
	Files   []FileStamp // the inputs as they were; a changed input invalidates the checkpoint
	Resume  Position
	Totals  Summary
	Updated time.Time
}

// FileStamp identifies the version of an input file.
type FileStamp struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// Stamps returns the stamps of the sources' files.
func Stamps(sources []Source) ([]FileStamp, error) {
	out := make([]FileStamp, 0, len(sources))
	for _, s := range sources {
		st, err := os.Stat(s.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, FileStamp{Path: s.Name(), Size: st.Size(), ModTime: st.ModTime().UTC()})
	}
	return out, nil
}

// JobID names an ingest job by what it reads: the format, the absolute paths and the options
// that change what is read (e.g. a site override).
func JobID(format string, paths []string, options ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", format)
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		fmt.Fprintf(h, "%s\x00", p)
	}
	fmt.Fprintf(h, "\x00%s", strings.Join(options, "\x00"))
	return format + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Checkpoints stores checkpoints as files in a directory, one per job. Each save is atomic and
// durable: written to a temporary file, synced, renamed over the old one, and the directory
// synced, so a crash leaves the old checkpoint or the new one, never a torn one.
type Checkpoints struct {
	Dir string
}

func (c Checkpoints) path(job string) string { return filepath.Join(c.Dir, job+".json") }

// Load returns the checkpoint of job, if there is one.
func (c Checkpoints) Load(job string) (Checkpoint, bool, error) {
	b, err := os.ReadFile(c.path(job))
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, err
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s: %w", c.path(job), err)
	}
	return cp, cp.Job == job, nil
}

// Save writes the checkpoint of cp.Job.
func (c Checkpoints) Save(cp Checkpoint) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	final := c.path(cp.Job)
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	d, err := os.Open(c.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Remove deletes the checkpoint of job: the job is complete, and running it again reads
// everything again (an idempotent update).
func (c Checkpoints) Remove(job string) error {
	err := os.Remove(c.path(job))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
