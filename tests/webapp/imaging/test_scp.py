"""C-STORE SCP with pynetdicom as the SCU: C-ECHO, C-STORE into the project named by the called
AE title, refusal for an unknown AE title."""

from __future__ import annotations

import socket

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]

from webapp.imaging.models import Instance
from webapp.imaging.scp import build_ae, handlers

from .conftest import read

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cstore_and_cecho(world, phantom_series):
    port = free_port()
    server = build_ae().start_server(("127.0.0.1", port), block=False, evt_handlers=handlers())
    try:
        datasets = [read(p) for p in phantom_series(slices=3, patient_id="SCP-1")]
        scu = AE(ae_title="MODALITY")
        scu.add_requested_context(CTImageStorage)
        scu.add_requested_context(Verification)
        assoc = scu.associate("127.0.0.1", port, ae_title=world["project"].slug.upper())
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0
        statuses = [assoc.send_c_store(ds).Status for ds in datasets]
        assoc.release()
        assert statuses == [0, 0, 0]
        stored = Instance.objects.filter(sop_instance_uid__in=[d.SOPInstanceUID for d in datasets])
        assert stored.count() == 3 and {i.series.study.project_id for i in stored} == {world["project"].pk}

        assoc = scu.associate("127.0.0.1", port, ae_title="NOSUCHPROJ")
        status = assoc.send_c_store(datasets[0]).Status
        assoc.release()
        assert status != 0
    finally:
        server.shutdown()
