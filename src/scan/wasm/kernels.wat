;; The scan kernels in WebAssembly (SIMD128 + threads), reading the tables in place: the same loops as
;; src/scan/kernels.ts over the same bytes, with the same floating-point operations in the same order, so every
;; term, equity, maintenance and candidate row is bit-identical to the JavaScript kernels' (test/scan-kernels.test.ts).
;;
;; Hand-written, because it is the hot path and its float operation order is the contract. Compiled by
;; `npm run gen:wasm` (scripts/gen-wasm.mjs, wabt's wat2wasm) into kernels-binary.ts, which is committed.
;;
;; Memory: the tables' shared WebAssembly.Memory (src/tables/layout.ts, allocateTables(..., { wasmMemory })).
;; Every column's byte offset is an imported global, taken from the layout map by src/scan/wasm/kernels.ts: this
;; file holds no offset. Addresses are u32 byte offsets; a wasm32 memory is at most 4 GiB, so none wraps.
;;
;; Phase 1, two slots per step (f64x2 lanes = slots s, s+1):
;;   u = size * (mark - entryPrice)                     unrealizedPnl
;;   pnl = isolated ? isolatedCollateral + u : u        (select; +0 when not Live)
;;   n = |size| * mark                                  notional
;;   tier t = first t < count-1 with !(n > upperBound[t]) else count-1, as tieredMargin's while loop: a lane stays
;;   "alive" while every bound so far was exceeded, and takes tier t+1's fraction and amount while alive
;;   maintenance = n * fraction[t] - amount[t]          (mul then sub: no fused multiply-add; +0 when not Live)
;; then each lane is scattered to its term row, as the JavaScript loop stores it. A term row outside the terms table
;; is not written (a typed array ignores such a store too).
;;
;; Phase 2, two accounts per step (f64x2 lanes = accounts a, a+1), each lane summing its own terms in its own order:
;; sumPnl += pnl, mm += maintenance, the addend masked to +0 unless the term is Live and cross and within the
;; account's count. Adding +0 is exact here: both sums start at +0 and a round-to-nearest sum is -0 only when both
;; operands are, so neither sum is ever -0 and x + 0 = x. (Vectorising across accounts keeps each account's
;; summation order; vectorising across one account's terms would not.) Then account a's isolated groups below the
;; margin-call level and its cross group, then account a+1's, in the JavaScript order; a candidate row is reserved
;; with an atomic add on the CandidateCount control word (as Atomics.add in reserveCandidate).
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; markets
  (import "layout" "markPrice" (global $markPrice i32))
  (import "layout" "tierCount" (global $tierCount i32))
  (import "layout" "tierUpperBound" (global $tierUpperBound i32))
  (import "layout" "maintenanceFraction" (global $maintenanceFraction i32))
  (import "layout" "maintenanceAmount" (global $maintenanceAmount i32))
  (import "layout" "maxTiers" (global $maxTiers i32))
  ;; positions
  (import "layout" "size" (global $size i32))
  (import "layout" "entryPrice" (global $entryPrice i32))
  (import "layout" "isolatedCollateral" (global $isolatedCollateral i32))
  (import "layout" "flags" (global $flags i32))
  (import "layout" "term" (global $term i32))
  ;; terms
  (import "layout" "termPnl" (global $termPnl i32))
  (import "layout" "termMaintenance" (global $termMaintenance i32))
  (import "layout" "termSlot" (global $termSlot i32))
  (import "layout" "termKind" (global $termKind i32))
  (import "layout" "termRows" (global $termRows i32))
  (import "layout" "positionsPerAccount" (global $positionsPerAccount i32))
  ;; accounts
  (import "layout" "collateral" (global $collateral i32))
  (import "layout" "positionCount" (global $positionCount i32))
  (import "layout" "scanEquity" (global $scanEquity i32))
  (import "layout" "scanMaintenance" (global $scanMaintenance i32))
  ;; candidates
  (import "layout" "candidateRef" (global $candidateRef i32))
  (import "layout" "candidateLevel" (global $candidateLevel i32))
  (import "layout" "candidateRows" (global $candidateRows i32))
  (import "layout" "candidateCount" (global $candidateCount i32))

  ;; One slot, scalar: phase 1 for an odd slot left at the end of a slice. The JavaScript loop's body, op for op.
  (func $slot (param $s i32) (param $mark f64) (param $base8 i32) (param $last i32)
    (local $f i32) (local $k i32) (local $q f64) (local $u f64) (local $n f64) (local $i i32) (local $t i32) (local $p f64) (local $mm f64)
    (local.set $f (i32.load (i32.add (global.get $flags) (i32.shl (local.get $s) (i32.const 2)))))
    (local.set $k (i32.load (i32.add (global.get $term) (i32.shl (local.get $s) (i32.const 2)))))
    (if (i32.and (local.get $f) (i32.const 1))
      (then
        (local.set $q (f64.load (i32.add (global.get $size) (i32.shl (local.get $s) (i32.const 3)))))
        (local.set $u (f64.mul (local.get $q)
          (f64.sub (local.get $mark) (f64.load (i32.add (global.get $entryPrice) (i32.shl (local.get $s) (i32.const 3)))))))
        (local.set $p (local.get $u))
        (if (i32.and (local.get $f) (i32.const 2))
          (then (local.set $p (f64.add
            (f64.load (i32.add (global.get $isolatedCollateral) (i32.shl (local.get $s) (i32.const 3))))
            (local.get $u)))))
        (local.set $n (f64.mul (f64.abs (local.get $q)) (local.get $mark)))
        ;; while i < last && n > upperBound[base + i], i++ ($t: the tier's byte offset in the tier columns)
        (local.set $i (i32.const 0))
        (local.set $t (local.get $base8))
        (block $found
          (loop $next
            (br_if $found (i32.ge_s (local.get $i) (local.get $last)))
            (br_if $found (i32.eqz (f64.gt (local.get $n) (f64.load (i32.add (global.get $tierUpperBound) (local.get $t))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (local.set $t (i32.add (local.get $t) (i32.const 8)))
            (br $next)))
        (local.set $mm (f64.sub
          (f64.mul (local.get $n) (f64.load (i32.add (global.get $maintenanceFraction) (local.get $t))))
          (f64.load (i32.add (global.get $maintenanceAmount) (local.get $t))))))
      (else
        (local.set $p (f64.const 0))
        (local.set $mm (f64.const 0))))
    (if (i32.lt_u (local.get $k) (global.get $termRows))
      (then
        (i32.store8 (i32.add (global.get $termKind) (local.get $k)) (local.get $f))
        (f64.store (i32.add (global.get $termPnl) (i32.shl (local.get $k) (i32.const 3))) (local.get $p))
        (f64.store (i32.add (global.get $termMaintenance) (i32.shl (local.get $k) (i32.const 3))) (local.get $mm)))))

  ;; Phase 1 over slots [from, to) of market m. Returns slots visited.
  (func $scanMarketSlice (export "scanMarketSlice") (param $m i32) (param $from i32) (param $to i32) (result i32)
    (local $mark f64) (local $mark2 v128) (local $base8 i32) (local $last i32) (local $s i32) (local $end2 i32)
    (local $o8 i32) (local $o4 i32) (local $q v128) (local $u v128) (local $fl v128) (local $live v128)
    (local $iso v128) (local $p v128) (local $n v128) (local $fr v128) (local $am v128) (local $alive v128)
    (local $i i32) (local $t i32) (local $mm v128) (local $k i32)
    (if (i32.ge_u (local.get $from) (local.get $to)) (then (return (i32.const 0))))
    (local.set $mark (f64.load (i32.add (global.get $markPrice) (i32.shl (local.get $m) (i32.const 3)))))
    (local.set $mark2 (f64x2.splat (local.get $mark)))
    ;; Where the market's tiers sit, once per slice (as the JavaScript kernel): base in bytes, last = count - 1.
    (local.set $base8 (i32.shl (i32.mul (local.get $m) (global.get $maxTiers)) (i32.const 3)))
    (local.set $last (i32.sub (i32.load (i32.add (global.get $tierCount) (i32.shl (local.get $m) (i32.const 2)))) (i32.const 1)))
    (local.set $s (local.get $from))
    ;; the last even step: [from, end2) in pairs, then at most one slot
    (local.set $end2 (i32.sub (local.get $to) (i32.and (i32.sub (local.get $to) (local.get $from)) (i32.const 1))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $s) (local.get $end2)))
        (local.set $o8 (i32.shl (local.get $s) (i32.const 3)))
        (local.set $o4 (i32.shl (local.get $s) (i32.const 2)))
        (local.set $q (v128.load align=8 (i32.add (global.get $size) (local.get $o8))))
        ;; flags of both slots as i64 lanes; live / isolated as all-ones or all-zeros lanes
        (local.set $fl (i64x2.extend_low_i32x4_u (v128.load64_zero align=4 (i32.add (global.get $flags) (local.get $o4)))))
        (local.set $live (i64x2.neg (v128.and (local.get $fl) (v128.const i64x2 1 1))))
        (local.set $iso (i64x2.neg (v128.and (i64x2.shr_u (local.get $fl) (i32.const 1)) (v128.const i64x2 1 1))))
        (local.set $u (f64x2.mul (local.get $q)
          (f64x2.sub (local.get $mark2) (v128.load align=8 (i32.add (global.get $entryPrice) (local.get $o8))))))
        (local.set $p (v128.and (local.get $live)
          (v128.bitselect
            (f64x2.add (v128.load align=8 (i32.add (global.get $isolatedCollateral) (local.get $o8))) (local.get $u))
            (local.get $u)
            (local.get $iso))))
        (local.set $n (f64x2.mul (f64x2.abs (local.get $q)) (local.get $mark2)))
        (local.set $fr (v128.load64_splat (i32.add (global.get $maintenanceFraction) (local.get $base8))))
        (local.set $am (v128.load64_splat (i32.add (global.get $maintenanceAmount) (local.get $base8))))
        (local.set $alive (v128.const i64x2 -1 -1))
        (local.set $i (i32.const 0))
        (local.set $t (local.get $base8))
        (block $tiers
          (loop $tier
            (br_if $tiers (i32.ge_s (local.get $i) (local.get $last)))
            (local.set $alive (v128.and (local.get $alive)
              (f64x2.gt (local.get $n) (v128.load64_splat (i32.add (global.get $tierUpperBound) (local.get $t))))))
            ;; both lanes settled: the usual case, most positions sit in the first tiers
            (br_if $tiers (i32.eqz (v128.any_true (local.get $alive))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (local.set $t (i32.add (local.get $t) (i32.const 8)))
            (local.set $fr (v128.bitselect
              (v128.load64_splat (i32.add (global.get $maintenanceFraction) (local.get $t))) (local.get $fr) (local.get $alive)))
            (local.set $am (v128.bitselect
              (v128.load64_splat (i32.add (global.get $maintenanceAmount) (local.get $t))) (local.get $am) (local.get $alive)))
            (br $tier)))
        (local.set $mm (v128.and (local.get $live)
          (f64x2.sub (f64x2.mul (local.get $n) (local.get $fr)) (local.get $am))))
        ;; scatter: slot s, then slot s + 1, as the JavaScript loop stores them
        (local.set $k (i32.load (i32.add (global.get $term) (local.get $o4))))
        (if (i32.lt_u (local.get $k) (global.get $termRows))
          (then
            (i32.store8 (i32.add (global.get $termKind) (local.get $k)) (i32.load (i32.add (global.get $flags) (local.get $o4))))
            (v128.store64_lane 0 (i32.add (global.get $termPnl) (i32.shl (local.get $k) (i32.const 3))) (local.get $p))
            (v128.store64_lane 0 (i32.add (global.get $termMaintenance) (i32.shl (local.get $k) (i32.const 3))) (local.get $mm))))
        (local.set $k (i32.load offset=4 (i32.add (global.get $term) (local.get $o4))))
        (if (i32.lt_u (local.get $k) (global.get $termRows))
          (then
            (i32.store8 (i32.add (global.get $termKind) (local.get $k)) (i32.load offset=4 (i32.add (global.get $flags) (local.get $o4))))
            (v128.store64_lane 1 (i32.add (global.get $termPnl) (i32.shl (local.get $k) (i32.const 3))) (local.get $p))
            (v128.store64_lane 1 (i32.add (global.get $termMaintenance) (i32.shl (local.get $k) (i32.const 3))) (local.get $mm))))
        (local.set $s (i32.add (local.get $s) (i32.const 2)))
        (br $pair)))
    (if (i32.lt_u (local.get $s) (local.get $to))
      (then (call $slot (local.get $s) (local.get $mark) (local.get $base8) (local.get $last))))
    (i32.sub (local.get $to) (local.get $from)))

  ;; A candidate row (ref, level), reserved like reserveCandidate(): rows past the table's capacity are counted, not written.
  (func $writeCandidate (param $ref i32) (param $level i32)
    (local $row i32)
    (local.set $row (i32.atomic.rmw.add (global.get $candidateCount) (i32.const 1)))
    (if (i32.lt_u (local.get $row) (global.get $candidateRows))
      (then
        (i32.store (i32.add (global.get $candidateRef) (i32.shl (local.get $row) (i32.const 2))) (local.get $ref))
        (i32.store8 (i32.add (global.get $candidateLevel) (local.get $row)) (local.get $level)))))

  ;; isMarginCall(equity, maintenance, h) = maintenance > 0 && equity < maintenance * h
  (func $isMarginCall (param $equity f64) (param $mm f64) (param $h f64) (result i32)
    (i32.and (f64.gt (local.get $mm) (f64.const 0)) (f64.lt (local.get $equity) (f64.mul (local.get $mm) (local.get $h)))))

  ;; Level of a group below the margin-call level: Liquidatable (2) when canBeLiquidated, else MarginCall (1).
  (func $level (param $equity f64) (param $mm f64) (result i32)
    (i32.add (i32.const 1)
      (i32.and (f64.gt (local.get $mm) (f64.const 0)) (f64.lt (local.get $equity) (local.get $mm)))))

  ;; The isolated groups among terms [first, end) below the margin-call level, in term order.
  (func $emitIsolated (param $first i32) (param $end i32) (param $h f64)
    (local $k i32) (local $p f64) (local $mm f64)
    (local.set $k (local.get $first))
    (block $done
      (loop $term
        (br_if $done (i32.ge_u (local.get $k) (local.get $end)))
        (if (i32.eq (i32.and (i32.load8_u (i32.add (global.get $termKind) (local.get $k))) (i32.const 3)) (i32.const 3))
          (then
            (local.set $p (f64.load (i32.add (global.get $termPnl) (i32.shl (local.get $k) (i32.const 3)))))
            (local.set $mm (f64.load (i32.add (global.get $termMaintenance) (i32.shl (local.get $k) (i32.const 3)))))
            (if (call $isMarginCall (local.get $p) (local.get $mm) (local.get $h))
              (then (call $writeCandidate
                (i32.or (i32.load (i32.add (global.get $termSlot) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 0x80000000))
                (call $level (local.get $p) (local.get $mm)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $term))))

  ;; Phase 2 over accounts [from, to), two accounts per step: f64x2 lanes hold accounts a and a + 1 (each lane its
  ;; own sums, in its own term order), over k < max(count a, count a + 1); a lane past its count adds +0. Then
  ;; account a is finished (its candidates written) before account a + 1, as the JavaScript loop does. An odd last
  ;; account runs alone in lane 0. Returns terms read.
  (func $assembleAccounts (export "assembleAccounts") (param $from i32) (param $to i32) (param $h f64) (result i32)
    (local $a i32) (local $b i32) (local $first i32) (local $na i32) (local $nb i32) (local $max i32) (local $k i32)
    (local $pk i32) (local $pp i32) (local $pm i32) (local $strideK i32) (local $stride8 i32) (local $visited i32)
    (local $nv v128) (local $kv v128) (local $hv v128) (local $valid v128) (local $kind v128) (local $cross v128)
    (local $pv v128) (local $mv v128) (local $accP v128) (local $accM v128) (local $iso v128)
    (local $equity f64) (local $mm f64)
    (local.set $hv (f64x2.splat (local.get $h)))
    (local.set $strideK (global.get $positionsPerAccount))
    (local.set $stride8 (i32.shl (global.get $positionsPerAccount) (i32.const 3)))
    (local.set $a (local.get $from))
    (block $accountsDone
      (loop $pair
        (br_if $accountsDone (i32.ge_u (local.get $a) (local.get $to)))
        (local.set $b (i32.add (local.get $a) (i32.const 1)))
        (local.set $first (i32.mul (local.get $a) (local.get $strideK)))
        (local.set $na (i32.load (i32.add (global.get $positionCount) (i32.shl (local.get $a) (i32.const 2)))))
        (local.set $nb (select
          (i32.load (i32.add (global.get $positionCount) (i32.shl (local.get $b) (i32.const 2))))
          (i32.const 0)
          (i32.lt_u (local.get $b) (local.get $to))))
        (local.set $max (select (local.get $na) (local.get $nb) (i32.gt_u (local.get $na) (local.get $nb))))
        (local.set $nv (i64x2.replace_lane 1 (i64x2.splat (i64.extend_i32_u (local.get $na))) (i64.extend_i32_u (local.get $nb))))
        (local.set $kv (v128.const i64x2 0 0))
        (local.set $pk (i32.add (global.get $termKind) (local.get $first)))
        (local.set $pp (i32.add (global.get $termPnl) (i32.shl (local.get $first) (i32.const 3))))
        (local.set $pm (i32.add (global.get $termMaintenance) (i32.shl (local.get $first) (i32.const 3))))
        (local.set $accP (v128.const f64x2 0 0))
        (local.set $accM (v128.const f64x2 0 0))
        (local.set $iso (v128.const i64x2 0 0))
        (local.set $k (i32.const 0))
        (block $termsDone
          (loop $term
            (br_if $termsDone (i32.ge_u (local.get $k) (local.get $max)))
            ;; lane b reads account b's rows (K rows further on); a lane at or past its count is masked out
            (local.set $valid (i64x2.lt_s (local.get $kv) (local.get $nv)))
            (local.set $kind (v128.and (v128.const i64x2 3 3)
              (v128.load8_lane 8 (i32.add (local.get $pk) (local.get $strideK))
                (v128.load8_lane 0 (local.get $pk) (v128.const i64x2 0 0)))))
            (local.set $pv (v128.load64_lane 1 (i32.add (local.get $pp) (local.get $stride8)) (v128.load64_zero (local.get $pp))))
            (local.set $mv (v128.load64_lane 1 (i32.add (local.get $pm) (local.get $stride8)) (v128.load64_zero (local.get $pm))))
            ;; Live and cross: add [pnl], [maintenance]; anything else adds +0 (exact, see the header)
            (local.set $cross (v128.and (local.get $valid) (i64x2.eq (local.get $kind) (v128.const i64x2 1 1))))
            (local.set $accP (f64x2.add (local.get $accP) (v128.and (local.get $pv) (local.get $cross))))
            (local.set $accM (f64x2.add (local.get $accM) (v128.and (local.get $mv) (local.get $cross))))
            ;; Live and isolated, below the margin-call level: maintenance > 0 && pnl < maintenance * h
            (local.set $iso (v128.or (local.get $iso)
              (v128.and (v128.and (local.get $valid) (i64x2.eq (local.get $kind) (v128.const i64x2 3 3)))
                (v128.and (f64x2.gt (local.get $mv) (v128.const f64x2 0 0))
                  (f64x2.lt (local.get $pv) (f64x2.mul (local.get $mv) (local.get $hv)))))))
            (local.set $kv (i64x2.add (local.get $kv) (v128.const i64x2 1 1)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (local.set $pk (i32.add (local.get $pk) (i32.const 1)))
            (local.set $pp (i32.add (local.get $pp) (i32.const 8)))
            (local.set $pm (i32.add (local.get $pm) (i32.const 8)))
            (br $term)))
        (local.set $visited (i32.add (local.get $visited) (i32.add (local.get $na) (local.get $nb))))
        ;; account a: its isolated groups, then its cross group (equity = collateral + sum of PnL)
        (if (i32.wrap_i64 (i64x2.extract_lane 0 (local.get $iso)))
          (then (call $emitIsolated (local.get $first) (i32.add (local.get $first) (local.get $na)) (local.get $h))))
        (local.set $equity (f64.add
          (f64.load (i32.add (global.get $collateral) (i32.shl (local.get $a) (i32.const 3))))
          (f64x2.extract_lane 0 (local.get $accP))))
        (local.set $mm (f64x2.extract_lane 0 (local.get $accM)))
        (f64.store (i32.add (global.get $scanEquity) (i32.shl (local.get $a) (i32.const 3))) (local.get $equity))
        (f64.store (i32.add (global.get $scanMaintenance) (i32.shl (local.get $a) (i32.const 3))) (local.get $mm))
        (if (call $isMarginCall (local.get $equity) (local.get $mm) (local.get $h))
          (then (call $writeCandidate (local.get $a) (call $level (local.get $equity) (local.get $mm)))))
        ;; account b, the same, when there is one
        (br_if $accountsDone (i32.ge_u (local.get $b) (local.get $to)))
        (local.set $first (i32.add (local.get $first) (local.get $strideK)))
        (if (i32.wrap_i64 (i64x2.extract_lane 1 (local.get $iso)))
          (then (call $emitIsolated (local.get $first) (i32.add (local.get $first) (local.get $nb)) (local.get $h))))
        (local.set $equity (f64.add
          (f64.load (i32.add (global.get $collateral) (i32.shl (local.get $b) (i32.const 3))))
          (f64x2.extract_lane 1 (local.get $accP))))
        (local.set $mm (f64x2.extract_lane 1 (local.get $accM)))
        (f64.store (i32.add (global.get $scanEquity) (i32.shl (local.get $b) (i32.const 3))) (local.get $equity))
        (f64.store (i32.add (global.get $scanMaintenance) (i32.shl (local.get $b) (i32.const 3))) (local.get $mm))
        (if (call $isMarginCall (local.get $equity) (local.get $mm) (local.get $h))
          (then (call $writeCandidate (local.get $b) (call $level (local.get $equity) (local.get $mm)))))
        (local.set $a (i32.add (local.get $a) (i32.const 2)))
        (br $pair)))
    (local.get $visited))
)
