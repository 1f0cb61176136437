;; Hostile, by hand against the Extism ABI: asks the host for a 16 MiB block and sets it as the output
;; without writing it (twice the default output limit; over an 8 MiB memory limit the allocation itself fails).
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "handle") (result i32)
    (call $output_set (call $alloc (i64.const 16777216)) (i64.const 16777216))
    (i32.const 0))
)
