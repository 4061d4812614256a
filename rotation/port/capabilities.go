package port

// The optional capabilities: interfaces a Store, a Source or their errors
// may implement besides the ports. The engine looks for each where its
// comment says, and does without it where it is missing.

// CredentialChecker is a Store or Source that signs with the function's own
// cloud credentials: an invocation without them (CheckCredentials' error,
// InvalidConfig) is refused before anything is read.
type CredentialChecker interface {
	CheckCredentials(Credentials) error
}

// SecretHolder is a Store or Source that holds secrets of its own (another
// cloud's keys, an assumed role's session): Sensitive lists them for the
// engine's redactor, which asks again after every mint.
type SecretHolder interface {
	Sensitive() []string
}

// WireFormer is a Store whose write sends the docker config in a form of
// its own (SAE's wrapped SecretData): WireForms gives it for the redactor,
// since a server may quote its request back.
type WireFormer interface {
	WireForms(sec Secret, config []byte) []string
}

// Resolver is a Store whose group reads may only resolve names (see
// Resolved). ReadAlone returns the ref that reads ref's secret on its own,
// without a group read first, when the store knows it (a name this process
// resolved before: the read confirms it, or Find says ErrMoved), and false
// when the group is to be read.
type Resolver interface {
	ReadAlone(ref SecretRef) (SecretRef, bool)
}

// SizeLimiter is a Store with a documented limit on the value it stores.
// CheckSize is consulted after the merge, before the write takes a pacer
// slot: a ValueTooLarge error fails the secret with nothing sent. The limit
// and its source live in the adapter.
type SizeLimiter interface {
	CheckSize(sec Secret, config []byte) error
}

// EventDescriber is a Source that can say what an event names in its terms,
// for the log line that starts an event's run ("eventInstanceId"), whether
// or not the event matches one of its targets.
type EventDescriber interface {
	DescribeEvent(ev Event) []Field
}

// Rejection is an error of a Prover that may say the registry refused the
// credential (Rejected): the token is then never written.
type Rejection interface {
	error
	Rejected() bool
}
