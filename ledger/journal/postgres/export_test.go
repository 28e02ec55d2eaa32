package postgres

import "context"

// SealRecent runs one round of the background loop: only transactions created after the newest
// one this sealer sealed, minus Grace.
func (s *Sealer) SealRecent(ctx context.Context) (int, error) { return s.round(ctx, false) }
