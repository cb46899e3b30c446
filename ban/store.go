package ban

import (
	"context"
	"net/netip"
	"time"

	"github.com/sipban/sipban/detect"
)

// Store keeps what a Guard must not lose when its process ends: the active
// records (bans, account blocks, guards) with their evidence, the offence
// history that makes a repeat offender's next ban longer, the devices that
// logged in with proof, customers' lifts and probations, and the failures
// with proof the detectors are counting, so that a restart gives no
// guesser its count back. A Guard given
// one (Options.Store) writes to it from a goroutine of its own, in batches,
// never from the path that judges an event, and reads it back in Restore.
//
// The contract, which storetest.Run checks:
//
//   - Write applies a batch of changes in order and atomically: after a
//     crash at any point either all of it is there or none. A batch is
//     acknowledged, and must survive a crash, when Write returns nil.
//   - Load calls fn with the state the changes written so far add up to,
//     as changes to be replayed in any order: OpRecord for every record put
//     and not ended since (the store does not judge time: a record whose
//     Until has passed is still loaded, and the Guard ends it), OpEnd with
//     the last Offence of each subject, OpDevice with the last proven login
//     of each device, OpLift with each lift kept, and OpFailure with each
//     failure kept, these in the order they were written. Load stops at
//     fn's first error and returns it.
//   - OpAge forgets offences that ended, devices last seen, lifts made
//     (Note.At) and failures (At) before its times, and nothing newer. Two
//     lifts of one subject at the same Note.At are one.
//   - A store refuses data it did not write or cannot read, with an error
//     that names what is wrong; it never takes it for an empty state.
//   - Methods are safe for concurrent use and return ctx.Err() promptly
//     once ctx is done; a Write cut short that way may or may not have been
//     applied, but never in part.
type Store interface {
	Load(ctx context.Context, fn func(Change) error) error
	Write(ctx context.Context, batch []Change) error
	Close() error
}

// Op is what a Change does.
type Op uint8

const (
	// OpRecord puts Record, replacing any record on the same subject.
	OpRecord Op = iota + 1
	// OpEnd ends the record on Offence.Subject, if any, and keeps Offence
	// as that subject's last, replacing the one before.
	OpEnd
	// OpDevice notes Device's proven login at Device.Last, replacing what
	// was kept for the same Where, Account and UserAgent.
	OpDevice
	// OpLift keeps Lift: one lift of a subject, and its probation.
	OpLift
	// OpAge forgets what Age says.
	OpAge
	// OpFailure keeps Failure, after every failure written before it.
	OpFailure
)

func (o Op) String() string {
	switch o {
	case OpRecord:
		return "record"
	case OpEnd:
		return "end"
	case OpDevice:
		return "device"
	case OpLift:
		return "lift"
	case OpAge:
		return "age"
	case OpFailure:
		return "failure"
	}
	return "op?"
}

// Change is one change to a Store; Op says which of its fields count.
type Change struct {
	Op      Op
	Record  StoredRecord // OpRecord
	Offence Offence      // OpEnd
	Device  KnownDevice  // OpDevice
	Lift    StoredLift   // OpLift
	Age     Age          // OpAge
	Failure Failure      // OpFailure
}

// StoredRecord is an active record as a store keeps it: what the Guard
// needs to hold it again and to explain it. A record's diagnosis is not
// kept: it is judged again from these facts when it is read.
type StoredRecord struct {
	Subject detect.Subject `json:"subject"`
	Scope   string         `json:"scope"`
	Cause   detect.Cause   `json:"cause"`
	Level   int            `json:"level"`
	Since   time.Time      `json:"since"`
	Until   time.Time      `json:"until"`
	Proven  bool           `json:"proven"`
	// Device and OthersOK are the finding's (detect.Finding); KnownDevice
	// reports that the failing device had logged in as the account before.
	Device      bool            `json:"device,omitempty"`
	OthersOK    bool            `json:"others_ok,omitempty"`
	KnownDevice bool            `json:"known_device,omitempty"`
	Evidence    detect.Evidence `json:"evidence"`
}

// Offence is a subject's last record, kept after it ended so that the next
// one lasts longer.
type Offence struct {
	Subject detect.Subject `json:"subject"`
	Level   int            `json:"level"`
	End     time.Time      `json:"end"`
	Proven  bool           `json:"proven"`
}

// KnownDevice is a device that logged in with proof: at Where (an address,
// or the IPv6 prefix sources are counted by, as an address), as Account,
// with UserAgent, last at Last, from Port with +sip.instance Instance and
// Contact, so that a restart lists it among its site's devices.
type KnownDevice struct {
	Where     netip.Addr `json:"where"`
	Account   string     `json:"account"`
	UserAgent string     `json:"user_agent"`
	Last      time.Time  `json:"last"`
	Port      uint16     `json:"port,omitempty"`
	Instance  string     `json:"instance,omitempty"`
	Contact   string     `json:"contact,omitempty"`
}

// StoredLift is one lift of Subject. Probation is set for a customer's
// lift, whose cause is watched for until Probation.Until.
type StoredLift struct {
	Subject   detect.Subject `json:"subject"`
	Note      LiftNote       `json:"note"`
	Probation *Probation     `json:"probation,omitempty"`
}

// Probation is a customer's lift waiting to see whether its cause returns.
type Probation struct {
	Until    time.Time    `json:"until"`
	Cause    detect.Cause `json:"cause"`
	Device   bool         `json:"device,omitempty"`
	OthersOK bool         `json:"others_ok,omitempty"`
	Guard    bool         `json:"guard,omitempty"` // the lifted record was a guard
	Fixed    string       `json:"fixed,omitempty"`
}

// Age is what an OpAge change forgets: each kind of state from before its
// time. A zero time forgets nothing of that kind.
type Age struct {
	Offences time.Time `json:"offences"` // Offence.End before it
	Devices  time.Time `json:"devices"`  // KnownDevice.Last before it
	Lifts    time.Time `json:"lifts"`    // StoredLift.Note.At before it
	Failures time.Time `json:"failures"` // Failure.At before it
}

// Failure is a failure with proof the detectors counted (a rejected
// password, a missing account, a call refused as sent), or, when Forget is
// valid, the moment they forgot their counts on Forget (a record made, or
// ended; lifted when Lifted). Restore replays them into the detectors in
// the order they were written. Strings are clipped: Account and Target to
// 256 bytes, UserAgent to 128.
type Failure struct {
	At          time.Time      `json:"at"`
	Source      netip.AddrPort `json:"source,omitzero"`
	Transport   string         `json:"transport,omitempty"`
	Method      string         `json:"method,omitempty"`
	Status      int            `json:"status,omitempty"`
	Account     string         `json:"account,omitempty"`
	Credentials bool           `json:"credentials,omitempty"`
	Unknown     bool           `json:"unknown_account,omitempty"` // detect.Event.UnknownAccount
	Guarded     bool           `json:"guarded,omitempty"`
	Target      string         `json:"target,omitempty"`
	UserAgent   string         `json:"user_agent,omitempty"`
	Malformed   string         `json:"malformed,omitempty"`
	Forget      detect.Subject `json:"forget,omitzero"`
	Lifted      bool           `json:"lifted,omitempty"`
}
