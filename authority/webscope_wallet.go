package authority

// What the portal's wallet and subscription pages need of a product's
// state beyond what SubscriptionStatus says. Wallet, SubscriptionStatus,
// StartSubscription, Allocate, Extend, RegisterSystem and Deliver check
// the actor's role on the organization in their own transaction, and
// find the product within that organization only: the pages call them
// as they are.

// GraceEnd returns when the grace period of year n ends for the product
// of s (Unix seconds, UTC): GraceDays from the year's start, or from the
// day the product subscribed when that is later. It is 0 in trial, where
// no year has begun for the product.
func (s *SubscriptionStatus) GraceEnd(n int) int64 {
	if s.StartedAt == 0 || n < 1 {
		return 0
	}
	return s.Calendar.graceEnd(n, s.StartedAt)
}
