package client

// PickCounts returns the calls c's picker sent to each address so far:
// the per-node counts of the cluster tests (the agent exposes no
// per-node request counter).
func PickCounts(c *Client) map[string]uint64 { return c.view.pickCounts() }
