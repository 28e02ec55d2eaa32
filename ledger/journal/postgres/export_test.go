package postgres

import "context"

// SealRecent runs one round of the background loop: only transactions created after the newest
// one this sealer sealed, minus Grace.
func (s *Sealer) SealRecent(ctx context.Context) (int, error) { return s.round(ctx, false) }

// SetTestHookInBlock installs a function that runs inside each block's transaction before it
// commits.
func (s *Sealer) SetTestHookInBlock(fn func(ctx context.Context)) { s.testHookInBlock = fn }

// SetTestFenceLoses makes blocks that would advance the balance fence fail as if they lost a
// serialization conflict, so that the sealer falls back to carrying the fence forward.
func (s *Sealer) SetTestFenceLoses(loses bool) { s.testFenceLoses = loses }
