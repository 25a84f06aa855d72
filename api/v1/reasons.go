package caskadev1

// Domain is the domain of every google.rpc.ErrorInfo a caskade server
// sends.
const Domain = "caskade.io"

// Reasons of google.rpc.ErrorInfo. They are part of the API: clients branch
// on them, so they never change meaning and are never reused.
const (
	// ReasonKeyNotFound (NOT_FOUND): the key has no live value.
	ReasonKeyNotFound = "KEY_NOT_FOUND"
	// ReasonOffsetOutOfRange (OUT_OF_RANGE): the offset is below the log
	// start or past the high-water mark. Metadata: MetaEarliestOffset,
	// MetaNextOffset.
	ReasonOffsetOutOfRange = "OFFSET_OUT_OF_RANGE"
	// ReasonCASMismatch (FAILED_PRECONDITION): the key's current offset is
	// not the expected one. Metadata: MetaCurrentOffset ("0" when the key
	// is absent), MetaExpectedOffset.
	ReasonCASMismatch = "CAS_MISMATCH"
	// ReasonEmptyKey (INVALID_ARGUMENT): a key of zero bytes.
	ReasonEmptyKey = "EMPTY_KEY"
	// ReasonKeyTooLarge (INVALID_ARGUMENT): a key over the server's limit.
	// Metadata: MetaLimit, MetaSize.
	ReasonKeyTooLarge = "KEY_TOO_LARGE"
	// ReasonValueTooLarge (INVALID_ARGUMENT): a value over the server's
	// limit. Metadata: MetaLimit, MetaSize.
	ReasonValueTooLarge = "VALUE_TOO_LARGE"
	// ReasonBadRange (INVALID_ARGUMENT): scan bounds that cannot be met,
	// or a page token that does not fit them.
	ReasonBadRange = "BAD_RANGE"
	// ReasonInvalidArgument (INVALID_ARGUMENT): any other refused field
	// (a negative TTL, an empty batch); the BadRequest names it.
	ReasonInvalidArgument = "INVALID_ARGUMENT"
	// ReasonStoreClosed (UNAVAILABLE): the store is closed; the server is
	// stopping. Retry on another node or later.
	ReasonStoreClosed = "STORE_CLOSED"
	// ReasonStoreFailed (UNAVAILABLE): an fsync failed and the store
	// refuses writes until it is reopened.
	ReasonStoreFailed = "STORE_FAILED"
	// ReasonDataLoss (DATA_LOSS): data on disk failed its checksum or
	// layout checks.
	ReasonDataLoss = "DATA_LOSS"
	// ReasonNotLeader (FAILED_PRECONDITION or UNAVAILABLE): the node is not
	// the leader. Metadata: MetaLeaderAddr when known. Reserved for the
	// replicated server.
	ReasonNotLeader = "NOT_LEADER"
	// ReasonUnauthenticated (UNAUTHENTICATED): the call carries no
	// verified client certificate, or the authorization policy does not
	// name its identity. Metadata: MetaIdentity when there is one.
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonPermissionDenied (PERMISSION_DENIED): the policy does not let
	// the caller's identity do this. Metadata: MetaIdentity, MetaAction,
	// MetaObject. Nothing was read or written.
	ReasonPermissionDenied = "PERMISSION_DENIED"
)

// Keys of google.rpc.ErrorInfo metadata. Offsets and sizes are decimal
// strings.
const (
	// MetaEarliestOffset is the first offset still in the log.
	MetaEarliestOffset = "earliest_offset"
	// MetaNextOffset is the high-water mark: the offset the next write gets.
	MetaNextOffset = "next_offset"
	// MetaRequestedOffset is the offset the request asked for.
	MetaRequestedOffset = "requested_offset"
	// MetaCurrentOffset is the key's current offset ("0" when absent).
	MetaCurrentOffset = "current_offset"
	// MetaExpectedOffset is the offset the CompareAndSwap expected.
	MetaExpectedOffset = "expected_offset"
	// MetaLimit is the server's size limit in bytes.
	MetaLimit = "limit"
	// MetaSize is the refused size in bytes.
	MetaSize = "size"
	// MetaLeaderAddr is the RPC address of the current leader.
	MetaLeaderAddr = "leader_addr"
	// MetaIdentity is the caller's identity: its client certificate's
	// common name (invalid UTF-8 replaced, cut to 200 bytes).
	MetaIdentity = "identity"
	// MetaAction is the action the policy was asked about: read, write or
	// admin.
	MetaAction = "action"
	// MetaObject is the object the policy was asked about: kv:KEY, log or
	// cluster (invalid UTF-8 replaced, cut to 200 bytes).
	MetaObject = "object"
)
