;; imports.wat: a module importing a global, so that the fuel global's index
;; is not the number of globals it defines. Build with wat2wasm imports.wat.
(module
  (import "env" "g" (global $g i32))
  (global $h (mut i32) (i32.const 5))
  (func (export "get") (result i32)
    (global.set $h (i32.add (global.get $h) (i32.const 1)))
    (i32.add (global.get $g) (global.get $h))))
