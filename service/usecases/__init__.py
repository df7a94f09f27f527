"""The application layer: each use case written once, for every door.

    requests.py   open a refund, cancelation or support request on an order
    lookup.py     look up a purchase
    commands.py   a party's action on a ticket
    outcomes.py   what they answer (typed), and the doors that ask

The doors (`service.inbound` for SMTP, `service.web` for pages and the API)
check who is asking, call one of these, and turn the outcome into an SMTP
reply, an HTTP status or a page. The rules themselves are the domain's.
"""
