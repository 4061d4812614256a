package port

// Resolver is an optional capability of a Store whose group reads may only
// resolve names (see Resolved). ReadAlone returns the ref that reads ref's
// secret on its own, without a group read first, when the store knows it
// (a name this process resolved before: the read confirms it, or Find says
// ErrMoved), and false when the group is to be read.
type Resolver interface {
	ReadAlone(ref SecretRef) (SecretRef, bool)
}

// SizeLimiter is an optional capability of a Store with a documented limit
// on the value it stores. CheckSize is consulted after the merge, before
// the write takes a pacer slot: a ValueTooLarge error fails the secret
// with nothing sent. The limit and its source live in the adapter.
type SizeLimiter interface {
	CheckSize(sec Secret, config []byte) error
}
