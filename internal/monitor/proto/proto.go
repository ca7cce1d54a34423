// Package proto is the wire format between berthd and berth-monitor.
//
// It is shared by both sides and imports almost nothing, because the
// monitor binary's size and memory are a per-container cost.
//
// Every message is a frame: one type byte, a 4-byte big-endian payload
// length, then the payload. A client connects to <Dir>/monitor.sock and
// sends one request frame; the monitor answers with a frame of its own:
//
//	Start  'S' (empty)            → Ok 'K' or Error 'E' (message)
//	Resize 'R' (h:u32, w:u32)     → Ok or Error
//	Reopen 'L' (empty)            → Ok or Error once the log file is reopened
//	State  'T' (empty)            → State 'T' (pid:u32, running:u8, started:i64 unix ns)
//	Wait   'W' (empty)            → Exit 'X' once the container has exited
//	Attach 'A' (flags:u8)         → Ok, then a stream of Output 'O' (stream:u8, data)
//	                                 frames and finally one Exit frame.
//	                                 The client may send Input 'I' (data) and
//	                                 CloseStdin 'C' (empty) frames on the same
//	                                 connection while attached.
//
// The sync pipe (fd 3 of the monitor) carries one Created 'K' (pid:u32) or
// one Error frame, then is closed.
//
// A supervisor (berth-monitor serve SOCKET MAX) runs the monitors of up to
// MAX containers in one process. On its socket it first sends Ok (empty)
// to a connection it accepts, then takes one request:
//
//	New 'N' (path of monitor.json; the runtime's sealed copy, if any, as
//	SCM_RIGHTS)                   → Ok (pid:u32), Error, or Busy 'B' (full)
//
// A connection closed before the first Ok was never taken: the
// supervisor was retiring, and the client starts another.
package proto

import (
	"errors"
	"io"
)

// Frame types.
const (
	Start      byte = 'S'
	Resize     byte = 'R'
	ReopenLog  byte = 'L'
	State      byte = 'T'
	Wait       byte = 'W'
	Attach     byte = 'A'
	Ok         byte = 'K'
	Error      byte = 'E'
	Output     byte = 'O'
	Exit       byte = 'X'
	Input      byte = 'I'
	CloseStdin byte = 'C'
	New        byte = 'N'
	Busy       byte = 'B'
)

// Attach flags.
const (
	FlagStdin  byte = 1 << 0
	FlagStdout byte = 1 << 1
	FlagStderr byte = 1 << 2
)

// Stream ids in Output frames.
const (
	Stdout byte = 1
	Stderr byte = 2
)

// MaxPayload bounds a frame so a corrupt length cannot make a reader
// allocate without limit.
const MaxPayload = 1 << 20

// ErrTooLarge is returned for a frame longer than MaxPayload.
var ErrTooLarge = errors.New("monitor protocol: frame too large")

// WriteFrame writes one frame in a single Write call, so frames from
// goroutines that share a writer under a lock never interleave.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > MaxPayload {
		return ErrTooLarge
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = typ
	PutU32(buf[1:], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. buf is reused when it is large enough.
func ReadFrame(r io.Reader, buf []byte) (typ byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := U32(hdr[1:])
	if n > MaxPayload {
		return 0, nil, ErrTooLarge
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

// PutU32 and U32 encode big-endian integers without encoding/binary,
// which would pull reflect into the monitor.
func PutU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func U32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func PutU64(b []byte, v uint64) {
	PutU32(b, uint32(v>>32))
	PutU32(b[4:], uint32(v))
}

func U64(b []byte) uint64 { return uint64(U32(b))<<32 | uint64(U32(b[4:])) }

// ExitInfo is an Exit frame's payload: code:i32, exited:i64 unix ns, oom:u8.
type ExitInfo struct {
	Code      int
	ExitedAt  int64
	OOMKilled bool
}

// Encode returns the Exit payload.
func (e ExitInfo) Encode() []byte {
	b := make([]byte, 13)
	PutU32(b, uint32(int32(e.Code)))
	PutU64(b[4:], uint64(e.ExitedAt))
	if e.OOMKilled {
		b[12] = 1
	}
	return b
}

// DecodeExit parses an Exit payload.
func DecodeExit(b []byte) (ExitInfo, error) {
	if len(b) != 13 {
		return ExitInfo{}, errors.New("monitor protocol: bad exit frame")
	}
	return ExitInfo{Code: int(int32(U32(b))), ExitedAt: int64(U64(b[4:])), OOMKilled: b[12] == 1}, nil
}

// StateInfo is a State reply's payload.
type StateInfo struct {
	Pid       int
	Running   bool
	StartedAt int64 // unix ns, 0 before Start
}

// Encode returns the State payload.
func (s StateInfo) Encode() []byte {
	b := make([]byte, 13)
	PutU32(b, uint32(s.Pid))
	if s.Running {
		b[4] = 1
	}
	PutU64(b[5:], uint64(s.StartedAt))
	return b
}

// DecodeState parses a State payload.
func DecodeState(b []byte) (StateInfo, error) {
	if len(b) != 13 {
		return StateInfo{}, errors.New("monitor protocol: bad state frame")
	}
	return StateInfo{Pid: int(U32(b)), Running: b[4] == 1, StartedAt: int64(U64(b[5:]))}, nil
}
