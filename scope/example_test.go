package scope_test

import (
	"fmt"

	"github.com/keyturn/keyturn/scope"
)

func ExampleParse() {
	s, err := scope.Parse("write:api_keys target-entity:E1:b read:users target-entity:E1:a,b read:users")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.String())
	fmt.Println(s.Len())

	_, err = scope.Parse("read  write")
	fmt.Println(err)
	// Output:
	// read:users target-entity:E1:a,b write:api_keys
	// 3
	// keyturn/scope: malformed scope: byte 5: empty scope token (leading, trailing or repeated space)
}

func ExampleSet_Covers() {
	held := scope.MustParse("read:users target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:employees-read target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:performance-evaluations-read")

	for _, req := range []string{
		"target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:employees-read,performance-evaluations-read",
		"read:users target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:employees-read",
		"target-entity:0b7c1d52-0000-4000-8000-000000000000:employees-read",
		"target-entity:8ed17dce-9eca-4383-a9e1-54f82c362b6d:*",
	} {
		fmt.Println(held.Covers(scope.MustParse(req)))
	}

	admin := scope.MustParse("introspect target-entity:*:*")
	fmt.Println(admin.Contains("target-entity:0b7c1d52-0000-4000-8000-000000000000:employees-read"))
	// Output:
	// true
	// true
	// false
	// false
	// true
}

func ExampleSet_Intersect() {
	held := scope.MustParse("read:users target-entity:*:employees-read")
	req := scope.MustParse("read:users write:users target-entity:E1:employees-read,employees-write")
	fmt.Println(held.Intersect(req))
	// Output:
	// read:users target-entity:E1:employees-read
}
