package postgres

// SetTestHookBalanceRead installs a function that runs after a payout has read the balance.
func (s *Store) SetTestHookBalanceRead(fn func()) { s.testHookBalanceRead = fn }

// SetTestHooksGroupCommit installs functions that see every group-commit batch's size and run
// at the start of every attempt of its transaction (an error fails the attempt).
func (s *Store) SetTestHooksGroupCommit(batch func(n int), book func() error) {
	s.gc.testHookBatch, s.gc.testHookBook = batch, book
}

// SetTestHookCommitted installs a function that runs after every group-commit transaction that
// committed, with its number of reports; an error it returns is returned as if the COMMIT's
// answer had been lost.
func (s *Store) SetTestHookCommitted(fn func(n int) error) { s.gc.testHookCommitted = fn }
