package ratelimit_test

import (
	"fmt"
	"time"

	"github.com/keyturn/keyturn/internal/ratelimit"
)

func Example() {
	l, err := ratelimit.New(ratelimit.Config{Burst: 3, Refill: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // a fixed clock

	// Three wrong secrets for key id "abc" pass; the fourth is refused.
	for range 3 {
		ok, _ := l.Allow("abc", now)
		fmt.Println("allowed:", ok)
		l.Fail("abc", now) // the secret was wrong
	}
	ok, retryAfter := l.Allow("abc", now)
	fmt.Println("allowed:", ok, "retry after:", retryAfter)

	// Other keys are not affected, and after the wait "abc" may try again.
	ok, _ = l.Allow("xyz", now)
	fmt.Println("xyz allowed:", ok)
	ok, _ = l.Allow("abc", now.Add(retryAfter))
	fmt.Println("abc allowed later:", ok)
	// Output:
	// allowed: true
	// allowed: true
	// allowed: true
	// allowed: false retry after: 10s
	// xyz allowed: true
	// abc allowed later: true
}
