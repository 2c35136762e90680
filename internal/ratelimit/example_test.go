package ratelimit_test

import (
	"fmt"
	"hash/maphash"
	"time"

	"github.com/keyturn/keyturn/internal/ratelimit"
)

func Example() {
	l, err := ratelimit.New(ratelimit.Config{Burst: 3, Refill: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // a fixed clock
	seed := maphash.MakeSeed()                          // kept secret
	abc := ratelimit.Key(maphash.String(seed, "abc"))
	xyz := ratelimit.Key(maphash.String(seed, "xyz"))

	// Three wrong secrets for key id "abc" are taken; the fourth is
	// refused.
	for range 3 {
		st, _, _ := l.Take(abc, now)
		fmt.Println("taken:", st == ratelimit.Taken)
		l.Fail(abc, now) // the secret was wrong
	}
	st, retryAfter, _ := l.Take(abc, now)
	fmt.Println("refused:", st == ratelimit.Refused, "retry after:", retryAfter)

	// Other keys are not affected, and a success costs nothing.
	st, _, _ = l.Take(xyz, now)
	fmt.Println("xyz taken:", st == ratelimit.Taken)
	l.Refund(xyz) // the secret was right

	// After the wait "abc" may try again.
	st, _, _ = l.Take(abc, now.Add(retryAfter))
	fmt.Println("abc taken later:", st == ratelimit.Taken)
	// Output:
	// taken: true
	// taken: true
	// taken: true
	// refused: true retry after: 10s
	// xyz taken: true
	// abc taken later: true
}
