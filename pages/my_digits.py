"""My digits: the drawings you kept on the Draw page, as a gallery; download, upload, delete."""
import streamlit as st

import ui
from ui import my_digits

ui.ensure_navigation()

st.title("My digits")
st.caption("Digits you drew and kept on the **Draw** page, each as the network receives it (28×28) and as you "
           "drew it. Measure any model on them on **Evaluate**, and teach a network your handwriting on **Train** "
           "(*Fine-tune*).")
collection_id = my_digits.collection_picker()
if collection_id is not None:
    my_digits.gallery(collection_id)
st.divider()
my_digits.files(collection_id)
