// Command wire checks troupe's wire contract with grpc-go, a gRPC client
// with its own HTTP/2 stack (Go's), not gRPC's C core like our C++ and
// Python clients. Every request goes out as raw bytes through a codec that
// passes []byte unchanged, so garbage can be sent to every method; valid
// messages are encoded by hand (the few fields needed), so no generated
// code is needed.
//
// Prints one line per check (PASS/FAIL name: what was seen), then
// "N passed, N failed"; exits 1 if any check failed. The check names are
// the same as in tests/wire/node/wire_test.js.
//
// Environment: TEST_TROUPE_BINARY (the troupe binary), TEST_WIRE_GARBAGE
// (tests/wire/garbage.txt). Built offline by tests/wire/go/run from Debian's
// golang-google-grpc-dev (GOPATH mode, /usr/share/gocode).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const callTimeout = 10 * time.Second

// --- checks ------------------------------------------------------------------

var passed, failed int

func check(name string, ok bool, format string, args ...interface{}) {
	word := "PASS"
	if ok {
		passed++
	} else {
		failed++
		word = "FAIL"
	}
	fmt.Printf("%s %s: %s\n", word, name, fmt.Sprintf(format, args...))
}

// --- a codec for raw bytes -------------------------------------------------------

// rawCodec sends a *[]byte as it is and receives into one. Named "proto" so
// that the call looks like any other gRPC call on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot send %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot receive into %T", v)
	}
	*b = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// --- protobuf by hand ----------------------------------------------------------

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|2)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendUint(b []byte, field int, v uint64) []byte {
	b = appendVarint(b, uint64(field)<<3)
	return appendVarint(b, v)
}

type field struct {
	num    int
	varint uint64
	bytes  []byte
}

// parse reads the fields of a message (varint and length-delimited only,
// which is all the replies used here have).
func parse(b []byte) ([]field, error) {
	var out []field
	readVarint := func() (uint64, error) {
		var v uint64
		for shift := uint(0); shift < 64; shift += 7 {
			if len(b) == 0 {
				return 0, errors.New("truncated varint")
			}
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v, nil
			}
		}
		return 0, errors.New("varint too long")
	}
	for len(b) > 0 {
		tag, err := readVarint()
		if err != nil {
			return nil, err
		}
		f := field{num: int(tag >> 3)}
		switch tag & 7 {
		case 0:
			if f.varint, err = readVarint(); err != nil {
				return nil, err
			}
		case 2:
			n, err := readVarint()
			if err != nil || n > uint64(len(b)) {
				return nil, errors.New("bad length")
			}
			f.bytes, b = b[:n], b[n:]
		default:
			return nil, fmt.Errorf("wire type %d not expected", tag&7)
		}
		out = append(out, f)
	}
	return out, nil
}

func getRequest(key string) []byte { return appendBytes(nil, 1, []byte(key)) }

func putRequest(key string, value []byte) []byte {
	return appendBytes(appendBytes(nil, 1, []byte(key)), 2, value)
}

func scanRequest(prefix string, limit uint32) []byte {
	return appendUint(appendBytes(nil, 1, []byte(prefix)), 3, uint64(limit))
}

func publishRequest(topic string, payload []byte) []byte {
	b := appendBytes(nil, 1, []byte(topic))
	b = appendBytes(b, 2, payload)
	return appendBytes(b, 3, []byte("wire"))
}

// SubscribeRequest{topics: [topic], start_after: {topic: after}}.
func subscribeRequest(topic string, after uint64) []byte {
	entry := appendUint(appendBytes(nil, 1, []byte(topic)), 2, after)
	return appendBytes(appendBytes(nil, 1, []byte(topic)), 2, entry)
}

var emptyRequest = []byte{} // ListTopicsRequest{}, HealthCheckRequest{service: ""}

type getResponse struct {
	found bool
	value []byte
}

func decodeGet(b []byte) (r getResponse) {
	fs, _ := parse(b)
	for _, f := range fs {
		switch f.num {
		case 1:
			r.found = f.varint != 0
		case 2:
			r.value = f.bytes
		}
	}
	return
}

type event struct {
	seq     uint64
	payload []byte
}

func decodeEvent(b []byte) (e event) {
	fs, _ := parse(b)
	for _, f := range fs {
		switch f.num {
		case 2:
			e.seq = f.varint
		case 3:
			e.payload = f.bytes
		}
	}
	return
}

// lastSeqs reads ListTopicsResponse{repeated TopicInfo{name 1, last_seq 2}}.
func lastSeqs(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	fs, _ := parse(b)
	for _, f := range fs {
		if f.num != 1 {
			continue
		}
		inner, _ := parse(f.bytes)
		var name string
		var seq uint64
		for _, g := range inner {
			switch g.num {
			case 1:
				name = string(g.bytes)
			case 2:
				seq = g.varint
			}
		}
		out[name] = seq
	}
	return out
}

// healthStatus reads HealthCheckResponse{ServingStatus status = 1}.
func healthStatus(b []byte) string {
	fs, _ := parse(b)
	var s uint64
	for _, f := range fs {
		if f.num == 1 {
			s = f.varint
		}
	}
	names := []string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"}
	if s < uint64(len(names)) {
		return names[s]
	}
	return fmt.Sprint(s)
}

type garbage struct {
	name  string
	bytes []byte
}

func garbageCases(path string) []garbage {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	var out []garbage
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		b, err := hex.DecodeString(parts[1])
		if err != nil {
			panic(err)
		}
		out = append(out, garbage{parts[0], b})
	}
	return out
}

// --- calls -----------------------------------------------------------------------

type result struct {
	code     codes.Code
	msg      string
	trailers metadata.MD
	messages [][]byte
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

func (r result) trailer(k string) string {
	if v := r.trailers.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r result) replica() bool { return r.trailer("troupe-replica") != "" }

func (r result) String() string {
	var keys []string
	for k := range r.trailers {
		if strings.HasPrefix(k, "troupe-") {
			keys = append(keys, k+"="+r.trailer(k))
		}
	}
	sort.Strings(keys)
	return fmt.Sprintf("%s %q trailers{%s}", codeNames[r.code], r.msg, strings.Join(keys, ","))
}

func ended(err error, tr metadata.MD, msgs [][]byte) result {
	s := status.Convert(err)
	if err == nil || err == io.EOF {
		s = status.New(codes.OK, "")
	}
	return result{code: s.Code(), msg: s.Message(), trailers: tr, messages: msgs}
}

func unary(conn *grpc.ClientConn, method string, body []byte) result {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var resp []byte
	var tr metadata.MD
	err := conn.Invoke(ctx, method, &body, &resp, grpc.Trailer(&tr))
	var msgs [][]byte
	if err == nil {
		msgs = append(msgs, resp)
	}
	return ended(err, tr, msgs)
}

// stream sends bodies in order, half-closes unless keepOpen, and reads
// replies to the end. onMessage runs for each reply as it comes.
type stream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
	done   chan result
}

func openStream(conn *grpc.ClientConn, method string, clientStreams, serverStreams bool,
	timeout time.Duration) (*stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	desc := &grpc.StreamDesc{ClientStreams: clientStreams, ServerStreams: serverStreams}
	cs, err := conn.NewStream(ctx, desc, method)
	if err != nil {
		cancel()
		return nil, err
	}
	return &stream{cs: cs, cancel: cancel, done: make(chan result, 1)}, nil
}

func (s *stream) send(bodies ...[]byte) {
	for _, b := range bodies {
		b := b
		if err := s.cs.SendMsg(&b); err != nil {
			return // the call has ended: its status comes from RecvMsg
		}
	}
}

// read receives until the end in the background.
func (s *stream) read(onMessage func([]byte)) {
	go func() {
		var msgs [][]byte
		for {
			var m []byte
			err := s.cs.RecvMsg(&m)
			if err != nil {
				s.done <- ended(err, s.cs.Trailer(), msgs)
				s.cancel()
				return
			}
			msgs = append(msgs, m)
			if onMessage != nil {
				onMessage(m)
			}
		}
	}()
}

func (s *stream) wait(timeout time.Duration) result {
	select {
	case r := <-s.done:
		return r
	case <-time.After(timeout):
		return result{code: codes.Code(999), msg: fmt.Sprintf("no status after %v", timeout)}
	}
}

func call(conn *grpc.ClientConn, method string, clientStreams, serverStreams bool, bodies ...[]byte) result {
	s, err := openStream(conn, method, clientStreams, serverStreams, callTimeout)
	if err != nil {
		return ended(err, nil, nil)
	}
	s.send(bodies...)
	s.cs.CloseSend()
	s.read(nil)
	return s.wait(callTimeout + time.Second)
}

// --- the server ------------------------------------------------------------------

type server struct {
	cmd    *exec.Cmd
	target string
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
	exitAt time.Time
	err    error
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

var listening = regexp.MustCompile(`listening on [0-9.]+:(\d+)`)

func startServer(binary string, args ...string) (*server, error) {
	s := &server{exited: make(chan struct{})}
	s.cmd = exec.Command(binary, append([]string{"serve", "--server-listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0", "--kv-backend", "memory"}, args...)...)
	// The server dies with this program, even when a watchdog or a panic ends it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TROUPE_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			s.mu.Lock()
			s.log.WriteString(line)
			s.mu.Unlock()
			if err != nil {
				break
			}
		}
		s.err = s.cmd.Wait()
		s.exitAt = time.Now()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(s.logText()); m != nil {
			s.target = "127.0.0.1:" + m[1]
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("troupe exited (%v):\n%s", s.err, s.logText())
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.kill()
	return nil, fmt.Errorf("troupe did not listen within 30 s:\n%s", s.logText())
}

func (s *server) dial(opts ...grpc.DialOption) *grpc.ClientConn {
	opts = append([]grpc.DialOption{grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}))}, opts...)
	conn, err := grpc.Dial(s.target, opts...)
	if err != nil {
		panic(err)
	}
	return conn
}

func (s *server) kill() {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// --- the checks --------------------------------------------------------------------

type method struct {
	path, request           string
	clientStream, srvStream bool
}

// Every method of kv, fan-in and health, with its request type and shape.
var methods = []method{
	{"/troupe.kv.v1.KeyValue/Get", "troupe.kv.v1.GetRequest", false, false},
	{"/troupe.kv.v1.KeyValue/Put", "troupe.kv.v1.PutRequest", false, false},
	{"/troupe.kv.v1.KeyValue/Delete", "troupe.kv.v1.DeleteRequest", false, false},
	{"/troupe.kv.v1.KeyValue/MultiGet", "troupe.kv.v1.MultiGetRequest", false, false},
	{"/troupe.kv.v1.KeyValue/Scan", "troupe.kv.v1.ScanRequest", false, true},
	{"/troupe.fanin.v1.FanIn/Publish", "troupe.fanin.v1.PublishRequest", true, false},
	{"/troupe.fanin.v1.FanIn/Subscribe", "troupe.fanin.v1.SubscribeRequest", false, true},
	{"/troupe.fanin.v1.FanIn/ListTopics", "troupe.fanin.v1.ListTopicsRequest", false, false},
	{"/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", false, false},
	{"/grpc.health.v1.Health/Watch", "grpc.health.v1.HealthCheckRequest", false, true},
}

func names(r result, typ string) bool { return r.msg != "" && strings.Contains(r.msg, typ) }

// 1. Garbage as the request of every method: INVALID_ARGUMENT naming the
// type. INTERNAL is not tolerated anywhere: a request that does not parse is
// the client's fault.
func checkGarbage(conn *grpc.ClientConn, cases []garbage) {
	for _, m := range methods {
		for _, g := range cases {
			var r result
			if !m.clientStream && !m.srvStream {
				r = unary(conn, m.path, g.bytes)
			} else {
				r = call(conn, m.path, m.clientStream, m.srvStream, g.bytes)
			}
			check(fmt.Sprintf("garbage %s %s", m.path[1:], g.name),
				r.code == codes.InvalidArgument && names(r, m.request),
				"want INVALID_ARGUMENT naming %s; got %v", m.request, r)
		}
	}
}

func topicLastSeq(conn *grpc.ClientConn, topic string) (uint64, bool, string) {
	r := unary(conn, "/troupe.fanin.v1.FanIn/ListTopics", emptyRequest)
	if r.code != codes.OK {
		return 0, false, r.String()
	}
	seq, ok := lastSeqs(r.messages[0])[topic]
	return seq, ok, ""
}

// 2. valid, garbage, valid in one Publish stream.
func checkPublishMixed(conn *grpc.ClientConn, bad []byte) {
	topic := "wire-mixed"
	first := []byte("first")
	r := call(conn, "/troupe.fanin.v1.FanIn/Publish", true, false,
		publishRequest(topic, first), bad, publishRequest(topic, []byte("third")))
	check("publish-mixed status", r.code == codes.InvalidArgument &&
		names(r, "troupe.fanin.v1.PublishRequest") && strings.Contains(r.msg, "request[1]"),
		"want INVALID_ARGUMENT naming request[1] and troupe.fanin.v1.PublishRequest; got %v", r)
	check("publish-mixed troupe-accepted", r.trailer("troupe-accepted") == "1",
		"want troupe-accepted=1; got %v", r)

	seq, ok, errText := topicLastSeq(conn, topic)
	seen := fmt.Sprintf("last_seq %d", seq)
	if errText != "" {
		seen = errText
	} else if !ok {
		seen = "no such topic"
	}
	check("publish-mixed list-topics", ok && seq == 1, "want last_seq 1 for %s; got %s", topic, seen)

	// Replay from seq 0: read for 500 ms after the headers, then cancel.
	s, err := openStream(conn, "/troupe.fanin.v1.FanIn/Subscribe", false, true, callTimeout)
	var events []event
	var sr result
	if err == nil {
		s.send(subscribeRequest(topic, 0))
		s.cs.CloseSend()
		var mu sync.Mutex
		s.read(func(m []byte) { mu.Lock(); events = append(events, decodeEvent(m)); mu.Unlock() })
		s.cs.Header()
		time.Sleep(500 * time.Millisecond)
		s.cancel()
		sr = s.wait(callTimeout) // the reader has returned: events is ours
	} else {
		sr = ended(err, nil, nil)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%d:%s", e.seq, e.payload))
	}
	check("publish-mixed subscribe-replay",
		len(events) == 1 && events[0].seq == 1 && bytes.Equal(events[0].payload, first),
		"want exactly [1:first]; got [%s] (stream ended %s)", strings.Join(got, ","), codeNames[sr.code])
}

// 4. troupe-replica on every reply, errors included.
func checkReplica(conn *grpc.ClientConn, bad []byte) {
	key := "wire-replica"
	put := unary(conn, "/troupe.kv.v1.KeyValue/Put", putRequest(key, []byte("v")))
	r := unary(conn, "/troupe.kv.v1.KeyValue/Get", getRequest(key))
	ok := r.code == codes.OK && r.replica()
	if ok {
		g := decodeGet(r.messages[0])
		ok = g.found && string(g.value) == "v"
	}
	check("replica get-ok", ok, "want OK found with troupe-replica (Put was %s); got %v", codeNames[put.code], r)

	// troupe's Get answers a missing key OK with found=false (kv.proto); a
	// NOT_FOUND status would do as well: the check is about the trailer.
	r = unary(conn, "/troupe.kv.v1.KeyValue/Get", getRequest("wire-absent"))
	ok = (r.code == codes.NotFound || (r.code == codes.OK && !decodeGet(r.messages[0]).found)) && r.replica()
	check("replica get-absent", ok, "want OK found=false (or NOT_FOUND) with troupe-replica; got %v", r)

	r = unary(conn, "/troupe.kv.v1.KeyValue/Get", getRequest(""))
	check("replica get-invalid-key", r.code == codes.InvalidArgument && r.replica(),
		"want INVALID_ARGUMENT with troupe-replica; got %v", r)

	r = unary(conn, "/troupe.kv.v1.KeyValue/Get", bad)
	check("replica garbage-get", r.code == codes.InvalidArgument && r.replica(),
		"want INVALID_ARGUMENT with troupe-replica; got %v", r)

	r = unary(conn, "/grpc.health.v1.Health/Check", emptyRequest)
	hs := "-"
	if r.code == codes.OK {
		hs = healthStatus(r.messages[0])
	}
	check("replica health-check", r.code == codes.OK && hs == "SERVING" && r.replica(),
		"want OK SERVING with troupe-replica; got %v %s", r, hs)

	for _, u := range [][2]string{{"unknown-method", "/troupe.kv.v1.KeyValue/Nope"},
		{"unknown-service", "/no.such.Service/X"}} {
		r = unary(conn, u[1], getRequest(key))
		check("replica "+u[0], r.code == codes.Unimplemented && r.replica(),
			"%s: want UNIMPLEMENTED with troupe-replica; got %v", u[1], r)
	}

	// The server runs with --server-max-message-bytes 1024.
	r = unary(conn, "/troupe.kv.v1.KeyValue/Put", putRequest("wire-big", bytes.Repeat([]byte("a"), 4096)))
	check("replica oversize-put", r.code == codes.ResourceExhausted && r.replica() &&
		strings.Contains(r.msg, "server.max_message_bytes"),
		"want RESOURCE_EXHAUSTED naming server.max_message_bytes with troupe-replica; got %v", r)
}

// 6. Two request messages on a call that takes one.
func checkTwoMessages(conn *grpc.ClientConn) {
	// A unary call is answered from its first message, as gRPC C++ and
	// Go servers do: telling a second one apart would cost every unary call
	// an extra read (docs/ARCHITECTURE.md).
	get := getRequest("wire-replica")
	r := call(conn, "/troupe.kv.v1.KeyValue/Get", true, true, get, get)
	check("two-messages Get", r.code == codes.OK && len(r.messages) == 1 && r.replica(),
		"want one OK answer (from the first message) with troupe-replica; got %v after %d replies", r, len(r.messages))
	scan := scanRequest("wire-", 10)
	r = call(conn, "/troupe.kv.v1.KeyValue/Scan", true, true, scan, scan)
	check("two-messages Scan", r.code == codes.InvalidArgument,
		"want INVALID_ARGUMENT; got %v after %d entries", r, len(r.messages))
}

// 3. Still serving after all of the above.
func checkServing(conn *grpc.ClientConn) {
	r := unary(conn, "/grpc.health.v1.Health/Check", emptyRequest)
	hs := "-"
	if r.code == codes.OK {
		hs = healthStatus(r.messages[0])
	}
	check("health serving-after", r.code == codes.OK && hs == "SERVING", "want OK SERVING; got %v %s", r, hs)
}

// 5. SIGTERM with a live Subscribe, a paused Scan, a Health Watch and an
// open Publish: each ends UNAVAILABLE with the server's own trailers
// (troupe-replica tells them from a status the client made up after a
// reset or GOAWAY: grpc-go reports a closed transport as UNAVAILABLE too),
// and the server exits 0.
func checkShutdown(binary string) error {
	srv, err := startServer(binary, "--server-shutdown-grace-ms", "1500", "--server-shutdown-linger-ms", "3000")
	if err != nil {
		return err
	}
	defer srv.kill()
	conn := srv.dial()
	defer conn.Close()

	const nKeys = 3000
	value := bytes.Repeat([]byte("b"), 1024)
	keys := make(chan int, nKeys)
	for i := 0; i < nKeys; i++ {
		keys <- i
	}
	close(keys)
	var wg sync.WaitGroup
	var putErrors int32
	var putMu sync.Mutex
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				if r := unary(conn, "/troupe.kv.v1.KeyValue/Put", putRequest(fmt.Sprintf("scan-%05d", i), value)); r.code != codes.OK {
					putMu.Lock()
					putErrors++
					putMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if putErrors > 0 {
		check("shutdown setup", false, "%d of %d Puts failed", putErrors, nKeys)
	}

	topic := "wire-shutdown"
	seed := call(conn, "/troupe.fanin.v1.FanIn/Publish", true, false, publishRequest(topic, []byte("e1")))
	const long = 60 * time.Second

	open := func(c *grpc.ClientConn, path string, clientStreams, serverStreams bool) *stream {
		s, err := openStream(c, path, clientStreams, serverStreams, long)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", path, err))
		}
		return s
	}

	// Subscribe: replays the one event, then waits for more that never come.
	var mu sync.Mutex
	var events []event
	gotEvent := make(chan struct{}, 1)
	sub := open(conn, "/troupe.fanin.v1.FanIn/Subscribe", false, true)
	sub.send(subscribeRequest(topic, 0))
	sub.cs.CloseSend()
	sub.read(func(m []byte) {
		mu.Lock()
		events = append(events, decodeEvent(m))
		mu.Unlock()
		select {
		case gotEvent <- struct{}{}:
		default:
		}
	})

	// Health Watch: SERVING first, then whatever the drain sends.
	var watched []string
	gotWatch := make(chan struct{}, 1)
	watch := open(conn, "/grpc.health.v1.Health/Watch", false, true)
	watch.send(emptyRequest)
	watch.cs.CloseSend()
	watch.read(func(m []byte) {
		mu.Lock()
		watched = append(watched, healthStatus(m))
		mu.Unlock()
		select {
		case gotWatch <- struct{}{}:
		default:
		}
	})

	// Publish: one event accepted, the stream left open.
	pub := open(conn, "/troupe.fanin.v1.FanIn/Publish", true, false)
	pub.send(publishRequest("wire-shutdown-pub", []byte("p1")))
	pub.read(nil)

	// Scan: its own connection with fixed 64 KiB windows (no BDP growth), not read.
	scanConn := srv.dial(grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	defer scanConn.Close()
	scan := open(scanConn, "/troupe.kv.v1.KeyValue/Scan", false, true)
	scan.send(scanRequest("scan-", nKeys))
	scan.cs.CloseSend()
	scanHeaders := make(chan struct{})
	go func() { scan.cs.Header(); close(scanHeaders) }()

	for _, w := range []struct {
		ch   <-chan struct{}
		what string
	}{{gotEvent, "Subscribe event"}, {gotWatch, "Watch SERVING"}, {scanHeaders, "Scan headers"}} {
		select {
		case <-w.ch:
		case <-time.After(callTimeout):
			return fmt.Errorf("streams open: no %s after %v", w.what, callTimeout)
		}
	}
	for until := time.Now().Add(callTimeout); time.Now().Before(until); time.Sleep(20 * time.Millisecond) {
		if seq, _, _ := topicLastSeq(conn, "wire-shutdown-pub"); seq == 1 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // the Scan fills its window and the server stalls

	srv.cmd.Process.Signal(syscall.SIGTERM)
	signalled := time.Now()
	// The paused Scan is read again 1800 ms after SIGTERM, after the 1500 ms
	// grace and within the linger: by then the server has ended it
	// UNAVAILABLE, and the status follows the entries already in flight.
	time.Sleep(1800 * time.Millisecond)
	scan.read(nil)

	rs := sub.wait(15 * time.Second)
	rscan := scan.wait(15 * time.Second)
	rw := watch.wait(15 * time.Second)
	rp := pub.wait(15 * time.Second)
	unavailable := func(r result) bool { return r.code == codes.Unavailable && r.replica() }
	mu.Lock()
	nEvents, seen := len(events), strings.Join(watched, ",")
	mu.Unlock()

	check("shutdown subscribe", unavailable(rs),
		"want UNAVAILABLE with troupe-replica; got %v after %d events (seed Publish %s)", rs, nEvents, codeNames[seed.code])
	lastSeq := rs.trailer("troupe-last-seq-" + topic)
	if lastSeq == "" {
		lastSeq = "none"
	}
	check("shutdown subscribe-last-seq", lastSeq == "1", "want troupe-last-seq-%s=1; got %s", topic, lastSeq)
	check("shutdown scan-paused", unavailable(rscan),
		"want UNAVAILABLE with troupe-replica; got %v after %d of %d entries", rscan, len(rscan.messages), nKeys)
	check("shutdown health-watch", unavailable(rw), "want UNAVAILABLE with troupe-replica; got %v after [%s]", rw, seen)
	check("shutdown publish-open", unavailable(rp) && rp.trailer("troupe-accepted") == "1",
		"want UNAVAILABLE with troupe-accepted=1 and troupe-replica; got %v", rp)
	pub.cs.CloseSend()

	select {
	case <-srv.exited:
		code := -1
		if srv.cmd.ProcessState != nil {
			code = srv.cmd.ProcessState.ExitCode()
		}
		check("shutdown exit-code", code == 0, "want exit 0; got %v %d ms after SIGTERM",
			srv.cmd.ProcessState, srv.exitAt.Sub(signalled).Milliseconds())
	case <-time.After(15 * time.Second):
		check("shutdown exit-code", false, "want exit 0; still running 15 s after SIGTERM")
	}
	if failed > 0 {
		for _, l := range strings.Split(strings.TrimRight(srv.logText(), "\n"), "\n") {
			fmt.Println("  | " + l)
		}
	}
	return nil
}

func run() error {
	binary := os.Getenv("TEST_TROUPE_BINARY")
	if binary == "" {
		binary = "build/host/troupe"
	}
	garbageFile := os.Getenv("TEST_WIRE_GARBAGE")
	if garbageFile == "" {
		garbageFile = "tests/wire/garbage.txt"
	}
	cases := garbageCases(garbageFile)
	fmt.Printf("grpc-go %s; server %s\n", grpc.Version, binary)

	srv, err := startServer(binary, "--server-max-message-bytes", "1024")
	if err != nil {
		return err
	}
	conn := srv.dial()
	checkGarbage(conn, cases)
	checkPublishMixed(conn, cases[0].bytes)
	checkReplica(conn, cases[0].bytes)
	checkTwoMessages(conn)
	checkServing(conn)
	conn.Close()
	srv.kill()
	return checkShutdown(binary)
}

func main() {
	watchdog := time.AfterFunc(240*time.Second, func() {
		fmt.Printf("FAIL watchdog: still running after 240 s\n%d passed, %d failed\n", passed, failed+1)
		os.Exit(1)
	})
	if err := run(); err != nil {
		failed++
		fmt.Printf("FAIL harness: %v\n", err)
	}
	watchdog.Stop()
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
