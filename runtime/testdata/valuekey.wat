;; valuekey: like identity, but each field's key becomes its value: the
;; output keys point into the input buffer, which the host reuses, so the
;; same address holds another key batch after batch (the host must not
;; remember a key by its address from one call to the next).
(module
  (memory (export "memory") 2)
  (global $buf i32 (i32.const 65536))
  (func (export "wasmtail_abi_v1"))
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
  (func (export "wasmtail_process") (param $count i32) (param $n i32) (result i64)
    (local $f i32) (local $end i32)
    ;; fields from buf + 8 + 16*count to that + 16*nfields
    (local.set $f (i32.add (i32.add (global.get $buf) (i32.const 8)) (i32.shl (local.get $count) (i32.const 4))))
    (local.set $end (i32.add (local.get $f) (i32.shl (i32.load offset=4 (global.get $buf)) (i32.const 4))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $f) (local.get $end)))
        (i32.store (local.get $f) (i32.load offset=8 (local.get $f)))
        (i32.store offset=4 (local.get $f) (i32.load offset=12 (local.get $f)))
        (local.set $f (i32.add (local.get $f) (i32.const 16)))
        (br $next)))
    (i64.or
      (i64.shl (i64.extend_i32_u (global.get $buf)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (local.get $end) (global.get $buf)))))
)
