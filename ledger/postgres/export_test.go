package postgres

// SetTestHookBalanceRead installs a function that runs after a payout has read the balance.
func (s *Store) SetTestHookBalanceRead(fn func()) { s.testHookBalanceRead = fn }
