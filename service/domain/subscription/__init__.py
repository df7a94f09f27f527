"""The subscription, maildesk's second record (SPEC §7): its own events, history, timers.

records.py    the subscription, its items and their pending changes; what will renew
events.py     what can happen to one: the platform's bills, failures and changes,
              the customer's choices, a timer, a ticket that canceled it
choices.py    what the customer may choose now, and why not: the one answer every door asks
schedule.py   when its next notice falls due: the payment reminder, the billing date
machine.py    (subscription, event, now, facts) in, new subscription and history out
"""
