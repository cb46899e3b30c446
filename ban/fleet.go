package ban

import "context"

// Fleet shares records among the Guards of several SIP edges (package
// banredis): a ban made on one edge holds on every edge, and a lift made
// on one lifts it everywhere. A Guard given one (Options.Fleet) shares the
// records it makes and the lifts made through it, from a goroutine of its
// own, and takes in what the others share while Run runs. Each edge judges
// what arrives by its own Policy: its allow-list is never banned, whatever
// another edge says.
//
// The contract:
//
//   - Share hands the fleet a batch of this edge's changes, in order:
//     OpRecord for each record made here, OpEnd (Offence.End being the
//     lifted record's Until) for each record lifted here. A record shared
//     is the fleet's until its Until, or until a lift of it is shared.
//   - Follow calls fn, from one goroutine, with the changes other edges
//     share: first OpRecord for every record the fleet holds now, then
//     each change as it is shared. An edge that was away (a lost
//     connection, a restarted server) gets every record the fleet holds
//     again once it is back, since what was shared meanwhile may be lost;
//     Follow retries by itself, and returns only once ctx is done, with
//     ctx.Err(). fn may so get a record twice, which changes nothing; it
//     never gets one this edge shared.
//   - Share returns an error once the fleet cannot take the batch; the
//     Guard keeps it and tries again.
type Fleet interface {
	Share(ctx context.Context, batch []Change) error
	Follow(ctx context.Context, fn func(Change)) error
}
