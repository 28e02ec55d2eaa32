package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/internal/soak"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/ledgertest"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// contributor is a person claiming identities and requesting payouts.
type contributor struct {
	p       principal
	claims  []*claimPlan
	payouts int
}

// claimPlan is one claim a contributor makes during the load: at its time it is started, then
// verified either by an admin's approval or by a proof post that the ingest loop publishes
// (the identity's post containing the claim's challenge).
type claimPlan struct {
	identity string
	at       time.Duration // after the load starts
	byProof  bool

	id, challenge string
	proof         string // the proof post's id, once queued
	verified      bool
}

// planClaims gives contributor i of n its claims: one identity of the corpus, approved by an
// admin early on, and its share of the 20 identities of the synthetic posts, spread over the
// load, every other one verified by a proof post.
func planClaims(i, n int, corpusIdentity string, d time.Duration) []*claimPlan {
	plans := []*claimPlan{{identity: corpusIdentity, at: time.Duration(float64(d) * (0.05 + 0.4*float64(i)/float64(n)))}}
	for j := i; j < syntheticAuthors; j += n {
		plans = append(plans, &claimPlan{
			identity: "soak:gen/" + syntheticAuthor(j),
			at:       time.Duration(float64(d) * (0.15 + 0.7*float64(j)/syntheticAuthors)),
			byProof:  j%2 == 0,
		})
	}
	return plans
}

// contributorsLoop advances each contributor's claims when their time has come and requests
// payouts of what is available.
func (s *soakRun) contributorsLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(s.o.seed, 2))
	for ctx.Err() == nil {
		for _, c := range s.contributors {
			for _, cl := range c.claims {
				if !cl.verified && time.Since(s.loadStart) >= cl.at {
					s.advanceClaim(ctx, c, cl)
				}
			}
			if c.claims[0].verified && rng.IntN(3) == 0 {
				s.payout(ctx, c, rng)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(300+rng.IntN(700)) * time.Millisecond):
		}
	}
}

// advanceClaim takes a claim one step further. Every step is idempotent (StartClaim returns
// the pending claim again, ApproveClaim of a verified claim finishes its release), so a step
// whose answer was lost is simply taken again.
func (s *soakRun) advanceClaim(ctx context.Context, c *contributor, cl *claimPlan) {
	if cl.id == "" {
		var resp *v1.StartClaimResponse
		err := call(ctx, callTimeout, func(cc context.Context) (err error) {
			resp, err = s.contributor.StartClaim(c.p.ctx(cc), &v1.StartClaimRequest{IdentityKey: cl.identity})
			return err
		})
		if err != nil {
			if soak.Classify(status.Code(err)) == soak.Refused {
				s.problemf("StartClaim %s by %s: %v", cl.identity, c.p.id, err)
			}
			return
		}
		cl.id, cl.challenge = resp.GetClaim().GetId(), resp.GetClaim().GetChallenge()
	}
	if cl.byProof {
		if cl.proof == "" {
			cl.proof = s.queueProof(cl)
			return
		}
		var resp *v1.GetClaimResponse
		err := call(ctx, callTimeout, func(cc context.Context) (err error) {
			resp, err = s.contributor.GetClaim(c.p.ctx(cc), &v1.GetClaimRequest{ClaimId: cl.id})
			return err
		})
		if err == nil && resp.GetClaim().GetStatus() == v1.ClaimStatus_CLAIM_STATUS_VERIFIED {
			cl.verified = true
			s.sayClaim(c, cl, resp.GetClaim())
		}
		return
	}
	var resp *v1.ApproveClaimResponse
	err := call(ctx, callTimeout, func(cc context.Context) (err error) {
		resp, err = s.admin.ApproveClaim(s.adminP.ctx(cc), &v1.ApproveClaimRequest{ClaimId: cl.id, Note: "soak"})
		return err
	})
	if err != nil {
		if soak.Classify(status.Code(err)) == soak.Refused {
			s.problemf("ApproveClaim %s: %v", cl.id, err)
		}
		return
	}
	if resp.GetClaim().GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED {
		s.problemf("claim %s approved, but it reads %v", cl.id, resp.GetClaim())
		return
	}
	cl.verified = true
	s.sayClaim(c, cl, resp.GetClaim())
}

func (s *soakRun) sayClaim(c *contributor, cl *claimPlan, got *v1.Claim) {
	if s.o.verbose {
		how := "an admin"
		if cl.byProof {
			how = "proof post " + cl.proof
		}
		s.say("claim of %s by %s verified by %s, released %v", cl.identity, c.p.name, how, got.GetReleased())
	}
}

// queueProof queues the post that proves cl: by the claimed identity, containing the challenge.
func (s *soakRun) queueProof(cl *claimPlan) string {
	_, author, _ := strings.Cut(cl.identity, "/")
	id := "soak:gen/proof-" + cl.id
	words := make([]string, 30)
	for i := range words {
		words[i] = vocabulary[(i*7+len(cl.id))%len(vocabulary)]
	}
	p := &v1.Post{
		Id: id, Platform: "soak", Site: "gen", Kind: v1.PostKind_POST_KIND_COMMENT,
		Author: &v1.Identity{Platform: "soak", Site: "gen", AuthorId: author},
		// The identity wrote this version itself: only such a post proves a claim.
		LastEditorId: author,
		CreatedAt:    timestamppb.Now(), Url: "https://soak.example/" + strings.TrimPrefix(id, "soak:gen/"),
		Text: strings.Join(words[:15], " ") + " my claim token is " + cl.challenge + " " + strings.Join(words[15:], " "),
	}
	s.ingest.mu.Lock()
	s.ingest.proofs = append(s.ingest.proofs, p)
	s.ingest.mu.Unlock()
	return id
}

// settleClaims finishes the claims under way when the load stopped: approvals whose answer
// was lost are taken again, and a claim whose proof post was acknowledged must be verified by
// now: the proof was stored, and nothing will ever look at it again.
func (s *soakRun) settleClaims(ctx context.Context) {
	for _, c := range s.contributors {
		for _, cl := range c.claims {
			switch {
			case cl.verified || cl.id == "":
			case !cl.byProof:
				for !cl.verified && ctx.Err() == nil {
					s.advanceClaim(ctx, c, cl)
				}
			case cl.proof != "":
				s.ingest.mu.Lock()
				acked := s.ingest.acked[cl.proof]
				s.ingest.mu.Unlock()
				var resp *v1.GetClaimResponse
				err := retrying(ctx, func(cc context.Context) (err error) {
					resp, err = s.contributor.GetClaim(c.p.ctx(cc), &v1.GetClaimRequest{ClaimId: cl.id})
					return err
				})
				switch {
				case err != nil:
					s.problemf("GetClaim %s: %v", cl.id, err)
				case resp.GetClaim().GetStatus() == v1.ClaimStatus_CLAIM_STATUS_VERIFIED:
					cl.verified = true
				case acked:
					s.problemf("claim %s of %s is %v although IngestPosts acknowledged its proof post %s",
						cl.id, cl.identity, resp.GetClaim().GetStatus(), cl.proof)
				}
			}
		}
	}
}

// checkClaims holds the verified claims against the books: the identity's escrow is empty
// (the release moved everything waiting, and every credit booked after it went to the owner).
func (s *soakRun) checkClaims(books *ledgertest.Books) (verified, byProof int) {
	for _, c := range s.contributors {
		for _, cl := range c.claims {
			if !cl.verified {
				continue
			}
			verified++
			if cl.byProof {
				byProof++
			}
			for cur, bal := range books.Balances[ledger.EscrowAccount(cl.identity)] {
				if !bal.IsZero() {
					s.problemf("claim %s verified %s as owned by %s, yet its escrow holds %s %s", cl.id, cl.identity, c.p.id, bal, cur)
				}
			}
		}
	}
	return verified, byProof
}

const syntheticAuthors = 20

func syntheticAuthor(j int) string { return fmt.Sprintf("a%d", j) }
