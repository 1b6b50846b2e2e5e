package storage

import (
	"context"
	"errors"
	"sync"
	"time"
)

// rowBatcher turns concurrent single-row inserts into one table into multi-row
// INSERTs. While a batch is on its way to the database the next one queues, so
// under load one statement, one round trip and one WAL flush carry many rows,
// and alone a row goes out at once: nothing ever waits for a batch to fill. A
// caller returns only after the statement holding its row has committed, so a
// token is never handed out before it is stored.
type rowBatcher struct {
	s       *Store
	table   string
	queue   chan pendingRow
	stop    chan struct{} // closed by close: workers finish the queue and exit
	stopped chan struct{} // closed once every worker has exited
	once    sync.Once
}

type pendingRow struct {
	row  requestRow
	done chan error // buffered: a worker never blocks on a caller that gave up
}

const (
	// batchMaxRows bounds a statement's size (13 columns a row: 832 parameters).
	batchMaxRows = 64
	// batchWorkers is how many batches may be in flight at once: two, so one
	// can be encoded while the other waits for its commit.
	batchWorkers = 2
	// batchTimeout bounds one batch's statement; callers' own deadlines apply
	// to their wait.
	batchTimeout = 30 * time.Second
)

var errStoreClosed = errors.New("store is closed")

func newRowBatcher(s *Store, table string) *rowBatcher {
	b := &rowBatcher{s: s, table: table, queue: make(chan pendingRow, 4*batchMaxRows),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	var workers sync.WaitGroup
	for range batchWorkers {
		workers.Go(b.work)
	}
	go func() { workers.Wait(); close(b.stopped) }()
	return b
}

// insert stores row and returns once it is committed, or with the error that
// kept it out.
func (b *rowBatcher) insert(ctx context.Context, row requestRow) error {
	p := pendingRow{row: row, done: make(chan error, 1)}
	select {
	case b.queue <- p:
	case <-b.stop:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-b.stopped:
		// A row queued while close raced with the send above has no worker.
		select {
		case err := <-p.done:
			return err
		default:
			return errStoreClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the workers after they have written what is queued.
func (b *rowBatcher) close() {
	b.once.Do(func() { close(b.stop) })
	<-b.stopped
}

func (b *rowBatcher) work() {
	batch := make([]pendingRow, 0, batchMaxRows)
	for {
		batch = batch[:0]
		select {
		case p := <-b.queue:
			batch = append(batch, p)
		case <-b.stop:
			b.drain()
			return
		}
	fill:
		for len(batch) < batchMaxRows {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.flush(batch)
	}
}

// drain writes what is still queued when the store closes.
func (b *rowBatcher) drain() {
	for {
		select {
		case p := <-b.queue:
			b.flush([]pendingRow{p})
		default:
			return
		}
	}
}

// flush inserts batch in one statement. When that fails, each row is tried on
// its own, so one bad row (its client deleted meanwhile, say) fails alone.
func (b *rowBatcher) flush(batch []pendingRow) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	rows := make([]requestRow, len(batch))
	for i := range batch {
		rows[i] = batch[i].row
	}
	err := b.s.write(ctx, func(ctx context.Context) error { return b.s.insertRequestRows(ctx, b.table, rows...) })
	if err == nil || len(batch) == 1 {
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	for i, p := range batch {
		p.done <- b.s.write(ctx, func(ctx context.Context) error { return b.s.insertRequestRows(ctx, b.table, rows[i]) })
	}
}
