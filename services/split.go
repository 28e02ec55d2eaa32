package services

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// SplitGRPC sorts the connections accepted on one port between gRPC's own transport and
// net/http, so that every protocol keeps its single port (NewHTTPHandler) while gRPC calls skip
// grpc.Server.ServeHTTP, which costs a call more CPU than gRPC's transport (bench-e2e: the
// server's CPU per ReportUsage fell from 1.48 to 1.23 ms; ServeHTTP flushes every frame in
// a write of its own, gRPC's transport batches them). Under TLS the listener is TLSListener's:
// the sorter reads the connection decrypted, both servers serve it as cleartext, and
// NewHTTPServer gives its requests the connection's TLS state (Request.TLS) as net/http would.
//
// A connection goes to GRPC when it opens with the HTTP/2 client preface (prior knowledge) and
// its first request has the content type application/grpc or application/grpc+…, or when it
// sends the preface and then no request within the sorting timeout (a gRPC client may connect
// before its first call); every other connection goes to Other: HTTP/1.1 and HTTP/2 whose first
// request is Connect, gRPC-Web, REST or JSON. A later request of another protocol on a gRPC
// connection is answered by gRPC's transport, which refuses it (HTTP 415); clients of those
// protocols open connections of their own. A connection that sends nothing within the timeout,
// or not a whole HTTP/2 preface, is closed or passed to Other as it is.
//
// To see a first request, the sorter must answer the client's SETTINGS, since gRPC clients wait
// for the server's before they send anything; it sends empty SETTINGS (the defaults), and the
// server that gets the connection sends its own. The client's acknowledgement of the sorter's
// SETTINGS is removed from the stream the server reads, because net/http's HTTP/2 server
// closes a connection that acknowledges SETTINGS it never sent.
//
// Closing either listener stops its Accept; closing both closes l.
type SplitGRPC struct {
	l       net.Listener
	timeout time.Duration
	grpc    *sortedListener
	other   *sortedListener

	mu      sync.Mutex
	open    int // sub-listeners not closed yet
	err     error
	stopped chan struct{} // closed when the accept loop ends
}

// DefaultSortTimeout bounds how long a new connection may take to show its protocol.
const DefaultSortTimeout = 10 * time.Second

// maxSortBytes bounds what the sorter reads of a connection before it sees a request: the
// preface, SETTINGS, WINDOW_UPDATE and a first HEADERS are far less.
const maxSortBytes = 64 << 10

// NewSplitGRPC starts sorting the connections of l; timeout ≤ 0 means DefaultSortTimeout.
func NewSplitGRPC(l net.Listener, timeout time.Duration) *SplitGRPC {
	if timeout <= 0 {
		timeout = DefaultSortTimeout
	}
	s := &SplitGRPC{l: l, timeout: timeout, open: 2, stopped: make(chan struct{})}
	s.grpc = &sortedListener{split: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.other = &sortedListener{split: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	go s.run()
	return s
}

// GRPC is the listener of gRPC connections, for grpc.Server.Serve.
func (s *SplitGRPC) GRPC() net.Listener { return s.grpc }

// Other is the listener of every other connection, for http.Server.Serve.
func (s *SplitGRPC) Other() net.Listener { return s.other }

func (s *SplitGRPC) run() {
	defer close(s.stopped)
	for {
		c, err := s.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		go s.sort(c)
	}
}

// sort reads the start of c, decides where it goes and hands it over with what was read.
func (s *SplitGRPC) sort(c net.Conn) {
	if err := c.SetReadDeadline(time.Now().Add(s.timeout)); err != nil {
		c.Close()
		return
	}
	rec := &recorder{r: c}
	preface := []byte(http2.ClientPreface)
	var buf [len(http2.ClientPreface)]byte
	n := 0
	for n < len(buf) && bytes.HasPrefix(preface, buf[:n]) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			if n == 0 {
				c.Close() // nothing said: nobody to answer
			} else {
				s.hand(s.other, c, buf[:n], 0)
			}
			return
		}
	}
	if !bytes.Equal(buf[:n], preface) {
		s.hand(s.other, c, buf[:n], 0)
		return
	}
	rec.buf = append(rec.buf, buf[:n]...)
	fr := http2.NewFramer(c, rec)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = maxHeaderListBytes
	sent, acked := 0, 0
	for {
		start := len(rec.buf)
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && len(rec.buf) == start {
				// A client that connected ahead of its first call: gRPC's.
				s.hand(s.grpc, c, rec.buf, sent-acked)
				return
			}
			// A broken or partly read frame: net/http's server answers it as HTTP/2 would.
			s.hand(s.other, c, rec.buf, sent-acked)
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				if acked < sent {
					acked++
					rec.buf = rec.buf[:start] // the acknowledgement of the sorter's SETTINGS
				}
			} else {
				if err := fr.WriteSettings(); err != nil {
					c.Close()
					return
				}
				sent++
			}
		case *http2.MetaHeadersFrame:
			to := s.other
			if grpcTransportContent(contentType(f)) {
				to = s.grpc
			}
			s.hand(to, c, rec.buf, sent-acked)
			return
		}
		if len(rec.buf) > maxSortBytes {
			s.hand(s.other, c, rec.buf, sent-acked)
			return
		}
	}
}

// grpcTransportContent reports whether gRPC's transport serves the content type ct:
// application/grpc and application/grpc+<codec> (not gRPC-Web's application/grpc-web…).
func grpcTransportContent(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+")
}

// contentType is the content-type field of a request's headers.
func contentType(f *http2.MetaHeadersFrame) string {
	for _, hf := range f.RegularFields() {
		if strings.EqualFold(hf.Name, "content-type") {
			return hf.Value
		}
	}
	return ""
}

// hand gives c to l, which reads read first and then c without its next drop SETTINGS
// acknowledgements.
func (s *SplitGRPC) hand(l *sortedListener, c net.Conn, read []byte, drop int) {
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		c.Close()
		return
	}
	var rest io.Reader = c
	if drop > 0 {
		rest = &ackFilter{r: c, drop: drop}
	}
	sc := &sortedConn{Conn: c, r: io.MultiReader(bytes.NewReader(bytes.Clone(read)), rest)}
	select {
	case l.conns <- sc:
	case <-l.closed:
		c.Close()
	case <-s.stopped: // l's Accept fails from now on
		c.Close()
	}
}

// recorder keeps what is read through it.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// ackFilter passes an HTTP/2 frame stream through without its next drop SETTINGS
// acknowledgements, then gets out of the way.
type ackFilter struct {
	r    io.Reader
	drop int
	hdr  []byte // header of the current frame, not yet passed on
	left int    // payload bytes of the current frame not yet passed on
}

func (a *ackFilter) Read(p []byte) (int, error) {
	for {
		switch {
		case len(a.hdr) > 0:
			n := copy(p, a.hdr)
			a.hdr = a.hdr[n:]
			return n, nil
		case a.left > 0:
			n, err := a.r.Read(p[:min(len(p), a.left)])
			a.left -= n
			return n, err
		case a.drop == 0:
			return a.r.Read(p)
		}
		var h [9]byte
		if _, err := io.ReadFull(a.r, h[:]); err != nil {
			return 0, err
		}
		length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if http2.FrameType(h[3]) == http2.FrameSettings && http2.Flags(h[4]).Has(http2.FlagSettingsAck) && length == 0 {
			a.drop--
			continue
		}
		a.hdr, a.left = h[:], length
	}
}

// sortedConn is a connection whose first bytes were read by the sorter.
type sortedConn struct {
	net.Conn
	r io.Reader
}

func (c *sortedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TLSConnectionState is the state of the connection's TLS, when it came from a TLSListener;
// the sorter has read from it, so its handshake is complete.
func (c *sortedConn) TLSConnectionState() (tls.ConnectionState, bool) {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// TLSListener terminates TLS on the connections of l for NewSplitGRPC, offering HTTP/2 and
// HTTP/1.1 by ALPN unless cfg names its own protocols. Handshakes happen as the sorter first
// reads a connection, within its sorting timeout.
func TLSListener(l net.Listener, cfg *tls.Config) net.Listener {
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	return tls.NewListener(l, cfg)
}

// sortedListener is one side of a SplitGRPC.
type sortedListener struct {
	split     *SplitGRPC
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *sortedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.split.stopped:
		l.split.mu.Lock()
		defer l.split.mu.Unlock()
		return nil, l.split.err
	}
}

func (l *sortedListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closed)
		s := l.split
		s.mu.Lock()
		s.open--
		last := s.open == 0
		s.mu.Unlock()
		if last {
			err = s.l.Close()
		}
	})
	return err
}

func (l *sortedListener) Addr() net.Addr { return l.split.l.Addr() }
