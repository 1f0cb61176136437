;; Written by hand against the Extism plugin ABI, no PDK: proves the ABI, not a PDK, is what the host
;; supports. `handle` reads the whole input (the batch, a JSON array of events) byte by byte and
;; outputs one action that carries it:
;;   [{"sink":"out","op":"set","key":"wat","value":<the batch>}]
;; and logs "echo" at info level.
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "log_info" (func $log_info (param i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "[{\"sink\":\"out\",\"op\":\"set\",\"key\":\"wat\",\"value\":")
  (data (i32.const 64) "}]")
  (data (i32.const 80) "echo")

  ;; Copies `len` bytes of linear memory at `from` into host block `block` at offset `at`; returns at + len.
  (func $copy (param $block i64) (param $at i64) (param $from i32) (param $len i32) (result i64)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (call $store_u8
          (i64.add (local.get $block) (i64.add (local.get $at) (i64.extend_i32_u (local.get $i))))
          (i32.load8_u (i32.add (local.get $from) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.add (local.get $at) (i64.extend_i32_u (local.get $len))))

  (func (export "handle") (result i32)
    (local $n i64) (local $out i64) (local $at i64) (local $i i64) (local $msg i64)
    (local.set $n (call $input_length))
    ;; 46 bytes of prefix + the input + 2 bytes of suffix
    (local.set $out (call $alloc (i64.add (local.get $n) (i64.const 48))))
    (local.set $at (call $copy (local.get $out) (i64.const 0) (i32.const 0) (i32.const 46)))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (call $store_u8 (i64.add (local.get $out) (i64.add (local.get $at) (local.get $i))) (call $input_load_u8 (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.set $at (call $copy (local.get $out) (i64.add (local.get $at) (local.get $n)) (i32.const 64) (i32.const 2)))
    (call $output_set (local.get $out) (local.get $at))
    (local.set $msg (call $alloc (i64.const 4)))
    (drop (call $copy (local.get $msg) (i64.const 0) (i32.const 80) (i32.const 4)))
    (call $log_info (local.get $msg))
    (i32.const 0))
)
