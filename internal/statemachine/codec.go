package statemachine

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	// encBufSize is the encoder's buffer.
	encBufSize = 256 << 10
	// decBufSize is the decoder's read buffer.
	decBufSize = 256 << 10
	// chunk is the most the decoder allocates ahead of the data it has
	// actually read, so a corrupt length cannot make it allocate gigabytes.
	chunk = 1 << 20
)

// encoder writes the snapshot stream through a buffer, keeping a CRC32C of
// every byte written and the byte count. The first error sticks.
type encoder struct {
	w   io.Writer
	buf []byte
	crc uint32
	n   int64
	err error
}

func newEncoder(w io.Writer) *encoder {
	return &encoder{w: w, buf: make([]byte, 0, encBufSize)}
}

// write sends p to w, adding it to the CRC.
func (e *encoder) write(p []byte) {
	if e.err != nil || len(p) == 0 {
		return
	}
	e.crc = crc32.Update(e.crc, castagnoli, p)
	n, err := e.w.Write(p)
	e.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	e.err = err
}

func (e *encoder) flush() {
	e.write(e.buf)
	e.buf = e.buf[:0]
}

func (e *encoder) maybeFlush() {
	if len(e.buf) >= encBufSize-64 {
		e.flush()
	}
}

func (e *encoder) raw(s string) { e.buf = append(e.buf, s...); e.maybeFlush() }
func (e *encoder) byte(b byte)  { e.buf = append(e.buf, b); e.maybeFlush() }
func (e *encoder) u32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v); e.maybeFlush() }
func (e *encoder) u64(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v); e.maybeFlush() }

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v); e.maybeFlush() }

// str writes a uvarint length and the bytes of s, a buffer at a time.
func (e *encoder) str(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	for {
		n := min(len(s), cap(e.buf)-len(e.buf))
		e.buf = append(e.buf, s[:n]...)
		s = s[n:]
		e.maybeFlush()
		if len(s) == 0 {
			return
		}
	}
}

// trailer writes the CRC of everything written so far; it is not itself
// part of the CRC. Call after flush.
func (e *encoder) trailer() {
	if e.err != nil {
		return
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], e.crc)
	n, err := e.w.Write(b[:])
	e.n += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	e.err = err
}

// decoder reads the snapshot stream through a buffer and keeps a CRC32C of
// the bytes consumed (not of bytes read ahead). End of input inside a value
// is io.ErrUnexpectedEOF.
type decoder struct {
	r      io.Reader
	buf    []byte
	pos    int // next unread byte of buf
	end    int // end of valid data in buf
	crcPos int // buf[:crcPos] is already in crc
	crc    uint32
	base   int64 // stream offset of buf[0]
	eof    bool
	err    error // read error other than io.EOF
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{r: r, buf: make([]byte, decBufSize)}
}

// offset returns the number of bytes consumed.
func (d *decoder) offset() int64 { return d.base + int64(d.pos) }

// fill makes at least one unread byte available; it returns io.EOF at the
// end of input or the read error.
func (d *decoder) fill() error {
	for empty := 0; d.pos == d.end; empty++ {
		if d.err != nil {
			return d.err
		}
		if d.eof {
			return io.EOF
		}
		if empty == 100 {
			// A reader that keeps returning (0, nil) is broken (bufio
			// gives up the same way).
			d.err = io.ErrNoProgress
			return d.err
		}
		d.sum()
		d.base += int64(d.end)
		d.pos, d.end, d.crcPos = 0, 0, 0
		n, err := d.r.Read(d.buf)
		d.end = n
		if err == io.EOF {
			d.eof = true
		} else if err != nil {
			d.err = err
		}
	}
	return nil
}

// sum folds the consumed bytes into the CRC and returns it.
func (d *decoder) sum() uint32 {
	d.crc = crc32.Update(d.crc, castagnoli, d.buf[d.crcPos:d.pos])
	d.crcPos = d.pos
	return d.crc
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *decoder) byte() (byte, error) {
	if d.pos == d.end {
		if err := d.fill(); err != nil {
			return 0, unexpected(err)
		}
	}
	b := d.buf[d.pos]
	d.pos++
	return b, nil
}

// full fills p from the stream.
func (d *decoder) full(p []byte) error {
	for len(p) > 0 {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return unexpected(err)
			}
		}
		n := copy(p, d.buf[d.pos:d.end])
		d.pos += n
		p = p[n:]
	}
	return nil
}

func (d *decoder) u32() (uint32, error) {
	var b [4]byte
	if err := d.full(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

func (d *decoder) u64() (uint64, error) {
	var b [8]byte
	if err := d.full(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// uvarint reads a minimally encoded uvarint: the encoding is canonical, so
// a valid snapshot re-encodes to the same bytes.
func (d *decoder) uvarint() (uint64, error) {
	if d.end-d.pos >= binary.MaxVarintLen64 {
		v, n := binary.Uvarint(d.buf[d.pos:d.end])
		if n <= 0 {
			return 0, corruptf("bad uvarint at byte %d", d.offset())
		}
		if n > 1 && d.buf[d.pos+n-1] == 0 {
			return 0, corruptf("non-minimal uvarint at byte %d", d.offset())
		}
		d.pos += n
		return v, nil
	}
	var v uint64
	for i := 0; ; i++ {
		b, err := d.byte()
		if err != nil {
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, corruptf("uvarint overflows 64 bits at byte %d", d.offset())
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if i > 0 && b == 0 {
				return 0, corruptf("non-minimal uvarint at byte %d", d.offset())
			}
			return v, nil
		}
	}
}

// appendBytes reads a uvarint length and appends that many bytes to dst.
func (d *decoder) appendBytes(dst []byte) ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return dst, err
	}
	return d.appendN(dst, n)
}

// appendN reads n bytes and appends them to dst. Memory grows with the
// data actually read, never ahead of it by more than chunk, so a corrupt
// length fails at the end of the input instead of allocating.
func (d *decoder) appendN(dst []byte, n uint64) ([]byte, error) {
	if n > math.MaxInt32 {
		return dst, corruptf("length %d at byte %d is over 2 GiB", n, d.offset())
	}
	for rest := int(n); rest > 0; {
		k := min(rest, chunk)
		dst = slices.Grow(dst, k)[:len(dst)+k]
		if err := d.full(dst[len(dst)-k:]); err != nil {
			return dst, err
		}
		rest -= k
	}
	return dst, nil
}

// str reads a uvarint length and that many bytes as a string.
func (d *decoder) str() (string, error) {
	n, err := d.uvarint()
	if err != nil {
		return "", err
	}
	if n <= uint64(d.end-d.pos) { // fast path: all in the buffer
		s := string(d.buf[d.pos : d.pos+int(n)])
		d.pos += int(n)
		return s, nil
	}
	p, err := d.appendN(nil, n)
	return string(p), err
}

// expectEOF checks that nothing follows the snapshot.
func (d *decoder) expectEOF() error {
	if d.pos < d.end {
		return corruptf("%d unexpected bytes after the checksum", d.end-d.pos)
	}
	switch err := d.fill(); err {
	case io.EOF:
		return nil
	case nil:
		return corruptf("unexpected bytes after the checksum at byte %d", d.offset())
	default:
		return err
	}
}
