"""A small inventory of items with quantities and prices."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    name: str
    price: float
    quantity: int = 0

    def total(self) -> float:
        return self.price * self.quantity


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, name: str, price: float, quantity: int = 1) -> Item:
        item = self.items.get(name)
        if item is None:
            item = Item(name, price, 0)
            self.items[name] = item
        item.quantity += quantity
        return item

    def remove(self, name: str, quantity: int = 1) -> None:
        item = self.items[name]
        if quantity > item.quantity:
            raise ValueError(f"only {item.quantity} {name} left")
        item.quantity -= quantity
        if item.quantity == 0:
            del self.items[name]

    def value(self) -> float:
        return sum(item.total() for item in self.items.values())

    def cheapest(self) -> Item | None:
        if not self.items:
            return None
        return min(self.items.values(), key=lambda item: item.price)

    def report(self) -> str:
        lines = []
        for item in sorted(self.items.values(), key=lambda item: item.name):
            lines.append(f"{item.name:<12} {item.quantity:>4} x {item.price:>8.2f} = {item.total():>9.2f}")
        lines.append(f"{'total':<12} {self.value():>30.2f}")
        return "\n".join(lines)


def load(rows: list[tuple[str, float, int]]) -> Inventory:
    inventory = Inventory()
    for name, price, quantity in rows:
        inventory.add(name, price, quantity)
    return inventory
