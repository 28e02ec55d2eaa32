package services

// Test hooks for the external test package.

// HasPolicy reports whether the policy table has an entry for the method.
func HasPolicy(fullMethod string) bool { _, ok := policy[fullMethod]; return ok }

// IsOpen reports whether a method needs no key.
var IsOpen = isOpen

// PolicyMethods lists the methods of the policy table.
func PolicyMethods() []string {
	out := make([]string, 0, len(policy))
	for m := range policy {
		out = append(out, m)
	}
	return out
}
