package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/openroyalty/royalty/indexer"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// maxRequestBytes bounds one IngestPosts message, well under the server's message limit.
const maxRequestBytes = 4 << 20

// ingestRemote reads the crawl here and sends it to a running server's IngestPosts, one stream
// per chunk of records. The server answers a stream only when its posts are durable, so the
// progress recorded here after each answer is safe to resume from.
func ingestRemote(ctx context.Context, cfg *config, o *ingestOptions, job string, srcs []indexer.Source, log *slog.Logger, stdout, stderr io.Writer) error {
	conn, err := o.client.dial(o.server)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	defer conn.Close()
	client := royaltyv1.NewIndexServiceClient(conn)
	if ctx, err = o.client.withKey(ctx); err != nil {
		return err
	}
	cps := indexer.Checkpoints{Dir: filepath.Join(cfg.DataDir, "ingest-client")}
	run := func(ctx context.Context, from indexer.Position, ro indexer.RunOptions) (indexer.Summary, error) {
		return sendAll(ctx, client, o.batchSize, indexer.Chain(srcs, from), ro)
	}
	return ingestJob(ctx, o, job, srcs, cps, run, log, stdout, stderr)
}

// sendAll sends r to the server in chunks of ten batches.
func sendAll(ctx context.Context, client royaltyv1.IndexServiceClient, batchSize int, r indexer.Reader, ro indexer.RunOptions) (indexer.Summary, error) {
	defer r.Close()
	totals := ro.Start.Clone()
	var identities indexer.IdentitySet
	for {
		var (
			reqs    = []*royaltyv1.IngestPostsRequest{{}}
			reqSize int
			postPos []indexer.Position
			delta   indexer.Summary
			resume  indexer.Position
			eof     bool
		)
		add := func(post *royaltyv1.Post, ident *royaltyv1.Identity) {
			req := reqs[len(reqs)-1]
			size := proto.Size(post) + proto.Size(ident)
			if len(req.Posts)+len(req.Identities) >= batchSize || reqSize+size > maxRequestBytes {
				req = &royaltyv1.IngestPostsRequest{}
				reqs, reqSize = append(reqs, req), 0
			}
			reqSize += size
			if post != nil {
				req.Posts = append(req.Posts, post)
			} else {
				req.Identities = append(req.Identities, ident)
			}
		}
		for delta.Records < 10*batchSize && !eof {
			rec, err := r.Read()
			var re *indexer.RecordError
			switch {
			case errors.Is(err, io.EOF):
				eof = true
				continue
			case errors.As(err, &re):
				delta.Records++
				delta.Rejected++
				delta.Errors = append(delta.Errors, re)
				resume = re.Next
				continue
			case err != nil:
				return totals, err
			}
			delta.Records++
			resume = rec.Next
			delta.Identities += identities.Count(rec)
			switch {
			case rec.Post != nil:
				delta.Received++
				postPos = append(postPos, rec.Pos)
				add(services.PostToProto(rec.Post), nil)
			case rec.Identity != nil:
				add(nil, services.IdentityToProto(rec.Identity))
			default:
				delta.Skipped++
				if delta.SkipReasons == nil {
					delta.SkipReasons = map[string]int{}
				}
				delta.SkipReasons[rec.Skip]++
			}
		}
		if delta.Records == 0 {
			return totals, nil
		}
		resp, err := sendChunk(ctx, client, reqs)
		if err != nil {
			return totals, fmt.Errorf("IngestPosts: %w", err)
		}
		delta.Inserted, delta.Updated, delta.Unchanged = int(resp.GetInserted()), int(resp.GetUpdated()), int(resp.GetUnchanged())
		delta.Rejected += int(resp.GetRejected())
		for _, e := range resp.GetErrors() {
			re := &indexer.RecordError{PostID: e.GetPostId(), Field: e.GetField(), Message: e.GetMessage(), Pos: indexer.Position{File: e.GetPosition()}}
			if n, err := strconv.Atoi(strings.TrimPrefix(e.GetPosition(), "stream:")); err == nil && n >= 0 && n < len(postPos) {
				re.Pos = postPos[n]
			}
			delta.Errors = append(delta.Errors, re)
		}
		totals.Add(&delta, indexer.DefaultMaxErrors)
		if ro.Progress != nil {
			ro.Progress(resume, totals)
		}
		if ro.Durable != nil {
			if err := ro.Durable(resume, totals); err != nil {
				return totals, err
			}
		}
		if eof {
			return totals, nil
		}
	}
}

func sendChunk(ctx context.Context, client royaltyv1.IndexServiceClient, reqs []*royaltyv1.IngestPostsRequest) (*royaltyv1.IngestPostsResponse, error) {
	stream, err := client.IngestPosts(ctx)
	if err != nil {
		return nil, err
	}
	for _, req := range reqs {
		if len(req.Posts)+len(req.Identities) == 0 {
			continue
		}
		if err := stream.Send(req); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server ended the stream; CloseAndRecv says why
			}
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}
