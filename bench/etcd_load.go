// Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
//
// bench/etcd_load.go
//
// The etcd side of bench/cluster-bench: etcd's own Go client (clientv3,
// from Debian's golang-etcd-server-dev) driving an etcd cluster the way
// pgbench drives pgraft.  Not part of pgraft; built by bench/cluster-bench
// with Debian's Go, without network access (GOPATH mode).
//
//	etcd_load put|get|sget|txn ENDPOINTS CLIENTS SECONDS SIZE
//		CLIENTS goroutines, each with its own connection, call in a loop
//		for SECONDS on 100 keys of their own: put SIZE-byte values; get
//		(linearizable, etcd's default); sget (serializable); txn (if the
//		key's version > 0, put: a compare-and-swap).  get, sget and txn
//		first put every key once.  Prints "ops=N tps=X p50_us=A p99_us=B"
//		(latency of each call).
//	etcd_load failover ENDPOINTS T0_NS
//		puts until one is acknowledged, each bounded by 100 ms, retried
//		every 2 ms; prints the milliseconds from T0_NS (the time of the
//		fault, CLOCK_REALTIME nanoseconds) to that acknowledgement.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "etcd_load: "+format+"\n", a...)
	os.Exit(1)
}

func connect(endpoints []string) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		die("connect %v: %v", endpoints, err)
	}
	return c
}

func load(mode string, endpoints []string, clients int, seconds int, size int) {
	value := strings.Repeat("v", size)
	lat := make([][]int64, clients)
	var wg sync.WaitGroup
	var failed int64
	var mu sync.Mutex
	conns := make([]*clientv3.Client, clients)
	for i := range conns {
		conns[i] = connect(endpoints)
	}
	key := func(i, n int) string { return fmt.Sprintf("bench/%d/%d", i, n%100) }
	if mode != "put" {
		for i := 0; i < clients; i++ {
			for n := 0; n < 100; n++ {
				if _, err := conns[i].Put(context.Background(), key(i, n), value); err != nil {
					die("preparing: %v", err)
				}
			}
		}
	}
	call := func(kv clientv3.KV, k string) error {
		var err error
		switch mode {
		case "put":
			_, err = kv.Put(context.Background(), k, value)
		case "get":
			_, err = kv.Get(context.Background(), k)
		case "sget":
			_, err = kv.Get(context.Background(), k, clientv3.WithSerializable())
		case "txn":
			_, err = kv.Txn(context.Background()).
				If(clientv3.Compare(clientv3.Version(k), ">", 0)).
				Then(clientv3.OpPut(k, value)).Commit()
		}
		return err
	}
	start := time.Now()
	deadline := start.Add(time.Duration(seconds) * time.Second)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			kv := clientv3.NewKV(conns[i])
			for n := 0; time.Now().Before(deadline); n++ {
				t := time.Now()
				if err := call(kv, key(i, n)); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				lat[i] = append(lat[i], time.Since(t).Microseconds())
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []int64
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 || failed > 0 {
		die("%d calls acknowledged, %d failed", len(all), failed)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	pct := func(p int) int64 { return all[(len(all)-1)*p/100] }
	fmt.Printf("ops=%d tps=%.1f p50_us=%d p99_us=%d\n", len(all), float64(len(all))/elapsed, pct(50), pct(99))
	for _, c := range conns {
		c.Close()
	}
}

func failover(endpoints []string, t0ns int64) {
	c := connect(endpoints)
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := c.Put(ctx, "bench/failover", "x")
		cancel()
		if err == nil {
			fmt.Printf("%d\n", (time.Now().UnixNano()-t0ns)/1000000)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func main() {
	usage := "usage: etcd_load put|get|sget|txn ENDPOINTS CLIENTS SECONDS SIZE | failover ENDPOINTS T0_NS"
	if len(os.Args) < 3 {
		die(usage)
	}
	endpoints := strings.Split(os.Args[2], ",")
	atoi := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			die("not a number: %s", s)
		}
		return v
	}
	switch {
	case len(os.Args) == 6 && strings.Contains(" put get sget txn ", " "+os.Args[1]+" "):
		load(os.Args[1], endpoints, int(atoi(os.Args[3])), int(atoi(os.Args[4])), int(atoi(os.Args[5])))
	case os.Args[1] == "failover" && len(os.Args) == 4:
		failover(endpoints, atoi(os.Args[3]))
	default:
		die(usage)
	}
}
