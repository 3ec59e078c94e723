import t from 'tap'
import { assignLabels, assignSeats, type FoundSeat } from '../src/engine/seat-assignment.ts'

const seat = (seatNo: number, lapsed = false): FoundSeat => ({ seat_no: seatNo, label: `S${seatNo}`, lapsed })
const numbers = (seats: Array<{ seat_no: number }> | undefined) => seats?.map((found) => found.seat_no)

t.test('holds get the lowest found seats in the order they were asked, each all or none', async (t) => {
  // Found out of order, free and lapsed mixed, as the two searches return them.
  const found = [seat(7), seat(2), seat(9, true), seat(3, true), seat(5)]
  const { seats, picked } = assignSeats([2, 1, 3], found)
  t.same(seats.map(numbers), [[2, 3], [5], undefined], 'the third hold wants 3 of the 2 seats left: none')
  t.equal(picked, 5)
})

t.test('once a hold does not fit, no later hold is granted, however small', async (t) => {
  const { seats } = assignSeats([3, 4, 1], [seat(1), seat(2), seat(3), seat(4), seat(5)])
  t.same(seats.map(numbers), [[1, 2, 3], undefined, undefined])
})

t.test('lapsed seats found beyond the seats asked for are released; free ones are left alone', async (t) => {
  const { seats, released, picked } = assignSeats([2], [seat(1), seat(4, true), seat(2), seat(6, true), seat(8)])
  t.same(seats.map(numbers), [[1, 2]])
  t.same(released, [4, 6], 'the lapsed seats above the lowest two rejoin the free seats')
  t.equal(picked, 2)
})

t.test('a search that found too few picks what it found and releases nothing', async (t) => {
  const { seats, released, picked } = assignSeats([4], [seat(3, true), seat(1)])
  t.same(seats, [undefined])
  t.same(released, [])
  t.equal(picked, 2)
})

t.test('a hold of labels gets all its seats in seat order, or learns which are not free', async (t) => {
  const found = [{ seat_no: 2, label: 'A2', free: true }, { seat_no: 1, label: 'A1', free: true }]
  t.same(assignLabels(['A2', 'A1'], found), { seats: [{ seat_no: 1, label: 'A1', free: true }, { seat_no: 2, label: 'A2', free: true }] })
  t.same(assignLabels(['A1', 'A2', 'Z9'], found), { unavailable: ['Z9'] }, 'a label the show does not have')
  t.same(assignLabels(['A1', 'A2'], [found[0]!, { seat_no: 1, label: 'A1', free: false }]), { unavailable: ['A1'] }, 'a held seat')
})
