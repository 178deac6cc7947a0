;; fuel.wat: functions for the tests of package meter. Build fuel.wasm with
;;	wat2wasm fuel.wat
;; The comments give the instructions each function runs, counted as the
;; meter counts them: block, loop, end, else and nop are free.
(module
  (memory (export "memory") 16)

  ;; spin never returns: 1 instruction (br) per iteration.
  (func (export "spin")
    (loop $l (br $l)))

  ;; sum returns 1 + 2 + ... + n: 12 instructions per iteration.
  (func (export "sum") (param $n i64) (result i64)
    (local $s i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $s (i64.add (local.get $s) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $s))

  ;; depth returns n, recursing n times: no loop, only calls.
  (func $depth (export "depth") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $depth (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))

  ;; forever recurses without end.
  (func $forever (export "forever")
    (call $forever))

  ;; collatz returns how many steps of the Collatz sequence take n (> 0) to
  ;; 1: a loop inside a block, dispatching with br_table.
  (func (export "collatz") (param $n i64) (result i64)
    (local $steps i64)
    (block $done
      (loop $next
        (block $odd
          (block $even
            ;; 0: even, 1: odd, 2: n is 1, done
            (br_table $even $odd $done
              (select
                (i32.const 2)
                (i32.wrap_i64 (i64.and (local.get $n) (i64.const 1)))
                (i64.eq (local.get $n) (i64.const 1)))))
          (local.set $n (i64.shr_u (local.get $n) (i64.const 1)))
          (local.set $steps (i64.add (local.get $steps) (i64.const 1)))
          (br $next))
        (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 3)) (i64.const 1)))
        (local.set $steps (i64.add (local.get $steps) (i64.const 1)))
        (br $next)))
    (local.get $steps))

  ;; fill sets n bytes of memory at 0 to 1: a bulk operation, one
  ;; instruction doing n bytes of work.
  (func (export "fill") (param $n i32)
    (memory.fill (i32.const 0) (i32.const 1) (local.get $n)))
)
