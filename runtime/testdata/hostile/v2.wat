;; hostile/v2: an ABI version this host does not know
(module
  (import "wasmtail" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "flooding the log")
  (global $buf i32 (i32.const 65536))
  (func (export "wasmtail_abi_v2"))
  (func (export "wasmtail_buffer") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.shr_u (i32.add (i32.add (local.get $size) (global.get $buf)) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.get $buf))
  (func (export "wasmtail_init") (param i32 i32) (result i32) (i32.const 0))
  (func (export "wasmtail_process") (param $count i32) (param $n i32) (result i64) (i64.or (i64.shl (i64.extend_i32_u (global.get $buf)) (i64.const 32)) (i64.extend_i32_u (call $len))))
  (func $len (result i32) (i32.add (i32.const 8) (i32.add (i32.shl (i32.load (global.get $buf)) (i32.const 4)) (i32.shl (i32.load offset=4 (global.get $buf)) (i32.const 4)))))
)
